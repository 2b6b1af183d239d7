// libFuzzer harness: a device profile from arbitrary text must parse or throw DeviceSpecError, and
// a parsed profile must work: listed, costed, scheduled.
import FuzzSupport
import NPUDevice

@main struct FuzzProfile {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let spec = try? DeviceSpec.parse(yaml: text, file: "fuzz.yaml") else { return 0 }
    let card = Device(spec: spec)
    let copy = card.makeStream(name: "copy")
    copy.copy("x", bytes: 1e12, direction: .hostToDevice)
    card.defaultStream.wait(copy.record())
    card.defaultStream.launch("k", type: "MatMul", work: Work(flops: 1e18, bytes: 1e15, unit: .cube, precision: .float16))
    card.defaultStream.launch("v", type: "Add", work: Work(flops: 1e15, bytes: 1e15, unit: .vector))
    _ = card.synchronize()
    _ = card.allocateProbe()
    return 0
}

extension Device {
    /// Allocates and frees the whole HBM once: the accounting must accept its own capacity.
    func allocateProbe() -> Bool {
        guard let a = try? allocate(spec.hbmBytes, for: "probe") else { return false }
        free(a)
        return true
    }
}
