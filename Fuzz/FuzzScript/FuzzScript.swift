// libFuzzer harness: a training script from arbitrary text must parse, or throw ScriptError
// naming file, line and column; never trap, hang or allocate without bound. A parsed script's
// network, loss and optimizer must build or fail with an error (no training: that is the ops'
// own business, fuzzed through their parsers' inputs).
import FuzzSupport
import NPUScript

@main struct FuzzScript {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let script = try? Script.parse(yaml: text, file: "fuzz.yaml") else { return 0 }
    _ = try? ScriptRunner.build(script)
    return 0
}
