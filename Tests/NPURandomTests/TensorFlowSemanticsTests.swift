import Testing
import NPUTensor
@testable import NPURandom

// The behaviours of TensorFlow's seed documents (../shared/seeds: tf.random.set_seed,
// tf.compat.v2.random.set_seed, and the TF1 graph/session experiments). A1, A2, ... name values.

func v(_ t: Tensor) -> [UInt32] { try! t.toArray(of: Float.self).map(\.bitPattern) }
let a1: TFRandomOp = .uniform([1])

@Suite struct TensorFlowSemanticsTests {
    @Test func neitherSeedDiffersPerCallAndPerRun() {
        let run1 = TFSeedState(), run2 = TFSeedState()
        let x1 = v(run1.run(a1)), x2 = v(run1.run(a1))
        #expect(x1 != x2)
        #expect(v(run2.run(a1)) != x1)
    }

    @Test func globalSeedOnlyDiffersPerCallRepeatsPerRun() throws {
        func program() throws -> [[UInt32]] {
            let s = TFSeedState()
            try s.setSeed(1234)
            return [v(s.run(a1)), v(s.run(a1))]
        }
        let run = try program()
        #expect(run[0] != run[1])
        #expect(try program() == run)
    }

    /// tf.function acts like a re-run: f and g both print (A1, A2).
    @Test func eachTracedFunctionDrawsTheSameSequence() throws {
        let s = TFSeedState()
        try s.setSeed(1234)
        let f = s.traceFunction(), g = s.traceFunction()
        for graph in [f, g] { graph.add(a1); graph.add(a1) }
        let fOut = f.call().map(v), gOut = g.call().map(v)
        #expect(fOut[0] != fOut[1])
        #expect(fOut == gOut)
    }

    @Test func opSeedOnlyDiffersPerCallRepeatsPerRun() {
        func program() -> [[UInt32]] {
            let s = TFSeedState()
            return [v(s.run(a1, seed: 1)), v(s.run(a1, seed: 1))]
        }
        let run = program()
        #expect(run[0] != run[1])       // the cached kernel's counter advances
        #expect(program() == run)
    }

    @Test func setSeedResetsTheKernelCounters() throws {
        let s = TFSeedState()
        try s.setSeed(1234)
        let first = [v(s.run(a1, seed: 1)), v(s.run(a1, seed: 1))]
        try s.setSeed(1234)
        #expect([v(s.run(a1, seed: 1)), v(s.run(a1, seed: 1))] == first)
    }

    /// foo: two ops with seed=1 inside one tf.function: (A1, A1), then (A2, A2).
    /// bar: two ops without op seeds: (A1, A2), then (A3, A4).
    @Test func opsInsideAFunctionHaveTheirOwnCounters() throws {
        let s = TFSeedState()
        try s.setSeed(1234)
        let foo = s.traceFunction()
        foo.add(a1, seed: 1)
        foo.add(a1, seed: 1)
        let call1 = foo.call().map(v), call2 = foo.call().map(v)
        #expect(call1[0] == call1[1] && call2[0] == call2[1] && call1[0] != call2[0])
        let bar = s.traceFunction()
        bar.add(a1)
        bar.add(a1)
        let b = bar.call().map(v) + bar.call().map(v)
        #expect(Set(b).count == 4)
    }

    /// TF1: with the graph-level seed set inside the graph, every session repeats the sequences.
    @Test func sessionsOfASeededGraphRepeat() {
        func program() -> [[UInt32]] {
            let graph = TFGraph()
            graph.seed = 0
            let op1 = graph.add(.normal([3])), op2 = graph.add(.normal([3]), seed: 1)
            var out: [[UInt32]] = []
            for _ in 0..<2 {
                let sess = graph.session()
                out += [v(sess.run(op1)), v(sess.run(op1)), v(sess.run(op2)), v(sess.run(op2))]
            }
            return out
        }
        let run = program()
        #expect(Array(run[0..<4]) == Array(run[4..<8]))   // session 2 repeats session 1
        #expect(run[0] != run[1] && run[2] != run[3])
        #expect(program() == run)                         // and so does a rerun
    }

    /// TF1: a seed set before the graph exists (or after its ops were created) does not reach
    /// them: the op without op seed is random per run, the one with seed=1 repeats.
    @Test func seedSetOnAnotherGraphOrTooLateDoesNotApply() {
        func program(setLate: Bool) -> ([UInt32], [UInt32]) {
            let outer = TFGraph()
            if !setLate { outer.seed = 0 }          // set on the default graph, not this one
            let graph = TFGraph()
            let op1 = graph.add(.normal([3])), op2 = graph.add(.normal([3]), seed: 1)
            if setLate { graph.seed = 0 }           // after the ops were created
            let sess = graph.session()
            return (v(sess.run(op1)), v(sess.run(op2)))
        }
        for late in [false, true] {
            let r1 = program(setLate: late), r2 = program(setLate: late)
            #expect(r1.0 != r2.0)
            #expect(r1.1 == r2.1)
        }
    }

    @Test func statelessOpsDependOnlyOnSeedAndShape() throws {
        let x = v(statelessUniform([4], seed: (1, 2)))
        #expect(v(statelessUniform([4], seed: (1, 2))) == x)
        #expect(v(statelessUniform([4], seed: (1, 3))) != x)
        let s = TFSeedState()
        try s.setSeed(99)
        _ = s.run(a1)
        #expect(v(statelessUniform([4], seed: (1, 2))) == x)
    }

    @Test func seedPairRules() {
        #expect(tfSeeds(graphSeed: nil, opSeed: nil, nextOpSeed: { 5 }) == nil)
        #expect(tfSeeds(graphSeed: nil, opSeed: 3, nextOpSeed: { 5 })! == (87_654_321, 3))
        #expect(tfSeeds(graphSeed: 7, opSeed: nil, nextOpSeed: { 5 })! == (7, 5))
        #expect(tfSeeds(graphSeed: 0, opSeed: 0, nextOpSeed: { 5 })! == (0, 2_147_483_647))
    }
}
