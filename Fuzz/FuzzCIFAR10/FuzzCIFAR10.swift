// libFuzzer harness: a CIFAR-10 batch file's bytes must decode into records, or throw DataError
// naming the file; never trap.
import FuzzSupport
import NPUData

@main struct FuzzCIFAR10 {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    var images: [Float] = [], labels: [Int32] = []
    guard (try? CIFAR10Source.decode(Array(UnsafeBufferPointer(start: data, count: size)), file: "fuzz.bin", images: &images, labels: &labels)) != nil else {
        return 0
    }
    precondition(images.count == labels.count * 3072)
    return 0
}
