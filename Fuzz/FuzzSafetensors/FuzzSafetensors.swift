// libFuzzer harness: a checkpoint file's bytes must decode, or throw SafetensorsError naming what
// is wrong; never trap or allocate without bound. A decoded file must encode and decode again to
// the same tensors.
import FuzzSupport
import NPUTensor

@main struct FuzzSafetensors {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let (tensors, metadata) = try? Safetensors.decode(bytes, file: "fuzz.safetensors") else { return 0 }
    guard let again = try? Safetensors.decode(Safetensors.encode(tensors, metadata: metadata), file: "again") else {
        fatalError("a decoded checkpoint did not decode after encoding")
    }
    precondition(again.tensors.keys.sorted() == tensors.keys.sorted() && again.metadata == metadata)
    return 0
}
