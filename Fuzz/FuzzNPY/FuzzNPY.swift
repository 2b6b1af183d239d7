// libFuzzer harness: NPY.decode on arbitrary bytes must return a tensor or throw NPYError.
import FuzzSupport
import NPUTensor

@main struct FuzzNPY {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if let t = try? NPY.decode(bytes, file: "fuzz.npy") {
        // A decoded tensor must round-trip through the writer.
        precondition((try? NPY.decode(NPY.encode(t), file: "again.npy"))?.shape == t.shape, "NPY round trip changed the shape")
    }
    return 0
}
