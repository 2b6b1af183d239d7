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
    // Small budgets keep each execution fast; the limits themselves are unit-tested.
    _ = try? program.runPyNative(state: SeedState())
    _ = try? program.runGraph(state: SeedState(), steps: 2)
    return 0
}
