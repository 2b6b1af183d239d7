// libFuzzer harness: a MindSpore .ckpt file's bytes must decode, or throw MindSporeCheckpointError
// naming what is wrong; never trap or allocate without bound. Decoded tensors must encode and
// decode again to the same names, types and bytes.
import FuzzSupport
import NPUTensor

@main struct FuzzMindSporeCkpt {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    guard let contents = try? MindSporeCheckpoint.decode(bytes, file: "fuzz.ckpt") else { return 0 }
    guard let again = try? MindSporeCheckpoint.decode(MindSporeCheckpoint.encode(contents.tensors), file: "again") else {
        fatalError("a decoded checkpoint did not decode after encoding")
    }
    precondition(again.tensors.map(\.name) == contents.tensors.map(\.name))
    for (a, b) in zip(again.tensors, contents.tensors) {
        precondition(a.tensor.dtype == b.tensor.dtype && a.tensor.shape == b.tensor.shape)
        a.tensor.withUnsafeBytes { x in b.tensor.withUnsafeBytes { y in precondition(x.elementsEqual(y)) } }
    }
    return 0
}
