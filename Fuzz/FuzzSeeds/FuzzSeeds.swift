// libFuzzer harness: a seed program from arbitrary text must parse and run, or throw
// SeedProgramError; never trap, hang or allocate without bound.
import FuzzSupport
import NPURandom

@main struct FuzzSeeds {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    guard let program = try? SeedProgram(text) else { return 0 }
    // A small value budget keeps each execution fast (the full budget's largest programs take
    // seconds under instrumentation: a timeout, not a hang); the limits themselves are unit-tested.
    _ = try? program.runPyNative(state: SeedState(), valueLimit: 1 << 16)
    _ = try? program.runGraph(state: SeedState(), steps: 2, valueLimit: 1 << 16)
    return 0
}
