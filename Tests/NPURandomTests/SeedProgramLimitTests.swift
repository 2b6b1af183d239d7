import Testing
@testable import NPURandom

/// Seed programs that trapped, overflowed the stack, hung or asked for tens of GB before: each is
/// refused (or answered) at once.
@Suite struct SeedProgramLimitTests {
    func error(_ text: String, graphSteps: Int? = nil) -> SeedProgramError? {
        do {
            let p = try SeedProgram(text)
            if let steps = graphSteps { _ = try p.runGraph(state: SeedState(), steps: steps) } else { _ = try p.runPyNative(state: SeedState()) }
            return nil
        } catch {
            return error
        }
    }

    @Test func shapesWhoseArithmeticOverflowsAreRefused() {
        #expect(error("uniform([16777216,16777216,16777216], 0, 1)")?.message
            == "uniform: shape [16777216, 16777216, 16777216] is too large: its non-zero dimensions multiply to more than 16777216")
        #expect(error("uniform([0,16777216,16777216,16777216], 0, 1)")?.message
            == "uniform: shape [0, 16777216, 16777216, 16777216] is too large: its non-zero dimensions multiply to more than 16777216")
    }

    @Test func deepNestingIsRefusedBeforeTheStackOverflows() {
        let deep = "uniform(" + String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000) + ", 0, 1)"
        #expect(error(deep) == SeedProgramError(column: 25, message: "lists nested more than 16 deep"))
    }

    @Test func hugePowersOfSmallBasesAreAnsweredAtOnce() throws {
        let p = try SeedProgram("set_seed(1**9223372036854775807); set_seed(0**5); set_seed(-1**3 + 2)")
        #expect(p.calls.count == 3)
        #expect(error("set_seed(2**9223372036854775807)")?.message.hasPrefix("expected") == true)
    }

    @Test func programsProducingTooManyValuesAreRefusedBeforeAllocating() {
        #expect(error("shuffle(16777216, 1000)")?.message
            == "shuffle: the program would produce 16777216000 values by this call (1 step); at most 16777216 values per run")
        #expect(error("uniform([16777216], 0, 1)", graphSteps: 1000)?.message
            == "uniform: the program would produce 16777216000 values by this call (1000 steps); at most 16777216 values per run")
        #expect(error("uniform([4096], 0, 1)", graphSteps: 1000) == nil)
    }

    /// The fuzz harness's smaller budget (a found slow input: 5.2 M values shuffled 3 times is
    /// within the full budget and takes seconds under instrumentation).
    @Test func aSmallerBudgetRefusesWhatTheFullOneAllows() throws {
        let p = try SeedProgram("shuffle(+200++5_192600+2, epochs=3)")
        #expect(throws: SeedProgramError(column: 1, message: "shuffle: the program would produce 15578406 values by this call (1 step); at most 65536 values per run")) {
            _ = try p.runPyNative(state: SeedState(), valueLimit: 1 << 16)
        }
        #expect(throws: SeedProgramError.self) { _ = try p.runGraph(state: SeedState(), steps: 2, valueLimit: 1 << 16) }
    }
}
