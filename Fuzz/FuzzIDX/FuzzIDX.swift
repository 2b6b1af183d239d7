// libFuzzer harness: an IDX dataset file (MNIST), gzipped or not, must decode or throw DataError
// naming the file; never trap, hang or allocate without bound.
import FuzzSupport
import NPUData

@main struct FuzzIDX {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    if bytes.count >= 2, bytes[0] == 0x1f, bytes[1] == 0x8b {
        guard let plain = try? IDX.gunzipForFuzzing(bytes) else { return 0 }
        bytes = plain
    }
    _ = try? IDX.decode(bytes, file: "fuzz.idx")
    return 0
}
