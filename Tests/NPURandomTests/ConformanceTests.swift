import Testing
import NPUTensor
@testable import NPURandom

// The seven cases of MindSpore's `set_seed` documentation, asserting the behaviour measured on
// MindSpore 2.10 (reference §1). "Rerun" is a fresh SeedState: a new Python process.

func values(_ r: RandomResult) -> [UInt32] { try! r.tensor.toArray(of: Float.self).map(\.bitPattern) }
func uniform14(_ state: SeedState, seed: Int64? = nil) throws -> [UInt32] {
    values(try RandomOp.uniform([1, 4], minval: 1, maxval: 2).run(seed: seed, state: state))
}
func numpyNormal(_ state: SeedState) -> UInt64 { state.numpy.normal().bitPattern }
func weight(_ state: SeedState) throws -> [UInt32] {
    try Initializer.uniform().make([2, 2], state: state).toArray(of: Float.self).map(\.bitPattern)
}

@Suite struct PyNativeConformanceTests {
    @Test func case1NoGlobalSeedNumpyAndInitializerAreRandom() throws {
        let run1 = SeedState(), run2 = SeedState()
        let a1 = numpyNormal(run1), a2 = numpyNormal(run1), a3 = numpyNormal(run2)
        #expect(a1 != a2 && a1 != a3)
        #expect(try weight(run1) != weight(run2))
    }

    @Test func case2GlobalSeedMakesNumpyAndInitializerRepeat() throws {
        func program() throws -> ([UInt64], [[UInt32]]) {
            let s = SeedState()
            try s.setSeed(1234)
            return ([numpyNormal(s), numpyNormal(s)], [try weight(s), try weight(s)])
        }
        let (a, w) = try program(), (rerunA, rerunW) = try program()
        #expect(a[0] != a[1] && w[0] != w[1])
        #expect(a == rerunA && w == rerunW)
    }

    @Test func case3NeitherSeedOpsAreRandom() throws {
        let s = SeedState(), rerun = SeedState()
        let c1 = try uniform14(s), c2 = try uniform14(s)
        #expect(c1 != c2)
        #expect(try uniform14(rerun) != c1)
        #expect(try s.opSeeds(kernel: "uniform", opSeed: nil).isEntropy)
    }

    @Test func case4GlobalSeedOnlyCallsDifferRerunsRepeat() throws {
        func program() throws -> [[UInt32]] {
            let s = SeedState()
            try s.setSeed(1234)
            return [try uniform14(s), try uniform14(s)]
        }
        let run = try program()
        #expect(run[0] != run[1])
        #expect(try program() == run)
    }

    @Test func case5BothSeedsCallsDifferRerunsRepeat() throws {
        func program() throws -> [[UInt32]] {
            let s = SeedState()
            try s.setSeed(1234)
            return [try uniform14(s, seed: 2), try uniform14(s, seed: 2)]
        }
        let run = try program()
        #expect(run[0] != run[1])
        #expect(try program() == run)
    }

    /// MindSpore's docstring says reruns differ; measured, they repeat: global seed 0 is used.
    @Test func case6OpSeedOnlyIsDeterministicAsMeasured() throws {
        func program() throws -> [[UInt32]] {
            let s = SeedState()
            return [try uniform14(s, seed: 2), try uniform14(s, seed: 2)]
        }
        let run = try program()
        #expect(run[0] != run[1])
        #expect(try program() == run)
        let s = SeedState()
        let first = try s.opSeeds(kernel: "uniform", opSeed: 2), second = try s.opSeeds(kernel: "uniform", opSeed: 2)
        #expect((first.seed, first.seed2) == (0, 2))
        #expect((second.seed, second.seed2) == (0, 2 + 533_697_028))
        #expect(first.rule == .opSeedOnly(call: 1) && second.rule == .opSeedOnly(call: 2))
    }

    @Test func case7SetSeedAgainResetsNumpyAndCounters() throws {
        let s = SeedState()
        try s.setSeed(1234)
        let a1 = numpyNormal(s), c1 = try uniform14(s, seed: 2)
        try s.setSeed(1234)
        #expect(numpyNormal(s) == a1)
        #expect(try uniform14(s, seed: 2) == c1)
    }

    @Test func countersArePerKernelName() throws {
        let s = SeedState()
        try s.setSeed(7)
        let u = try s.opSeeds(kernel: "uniform", opSeed: nil)
        let n = try s.opSeeds(kernel: "standard_normal", opSeed: nil)
        let u2 = try s.opSeeds(kernel: "uniform", opSeed: nil)
        #expect(u.seed2 == 0 && n.seed2 == 0 && u2.seed2 == 533_697_028)
    }
}

@Suite struct GraphConformanceTests {
    func graph(_ state: SeedState, seeds: [Int64?]) throws -> RandomGraph {
        let g = RandomGraph()
        for seed in seeds { try g.add(.uniform([1, 4], minval: 1, maxval: 2), seed: seed, state: state) }
        return g
    }
    func bits(_ ts: [Tensor]) -> [[UInt32]] { ts.map { try! $0.toArray(of: Float.self).map(\.bitPattern) } }

    @Test func seedsAreTakenPerCallSiteAtBuildAndStateCarriesAcrossSteps() throws {
        let s = SeedState()
        try s.setSeed(1234)
        let g = try graph(s, seeds: [nil, nil])
        #expect(g.sites.map(\.kernel.seeds.seed2) == [0, 533_697_028])
        let step1 = bits(try g.step()), step2 = bits(try g.step())
        #expect(step1[0] != step1[1])          // case 4: two call sites differ
        #expect(step1 != step2)                // each step continues the kernels' streams
        // The same as PyNative calls with the same seeds, launched twice on one kernel.
        let k = RandomKernel(.uniformReal, seeds: g.sites[0].kernel.seeds)
        _ = k.uniform([1, 4])
        let second = RandomOp.map(k.uniform([1, 4])) { $0 * 1 + 1 }
        #expect(try second.toArray(of: Float.self).map(\.bitPattern) == step2[0])
    }

    @Test func rebuildingAfterSetSeedStartsAfreshButSetSeedDoesNotResetABuiltGraph() throws {
        let s = SeedState()
        try s.setSeed(1234)
        let g = try graph(s, seeds: [2])
        let first = bits(try g.step())
        try s.setSeed(1234)                    // does not touch g
        let continued = bits(try g.step())
        #expect(continued != first)
        let rebuilt = try graph(s, seeds: [2]) // case 7 in graph mode: a new graph starts afresh
        #expect(bits(try rebuilt.step()) == first)
    }

    @Test func rerunsRepeatWithGlobalOrOpSeedAndDifferWithout() throws {
        func run(setSeed: Bool, opSeed: Int64?) throws -> [[UInt32]] {
            let s = SeedState()
            if setSeed { try s.setSeed(1234) }
            let g = try graph(s, seeds: [opSeed, opSeed])
            return bits(try g.step()) + bits(try g.step())
        }
        #expect(try run(setSeed: true, opSeed: nil) == run(setSeed: true, opSeed: nil))   // case 4
        #expect(try run(setSeed: true, opSeed: 2) == run(setSeed: true, opSeed: 2))       // case 5
        #expect(try run(setSeed: false, opSeed: 2) == run(setSeed: false, opSeed: 2))     // case 6, measured
        #expect(try run(setSeed: false, opSeed: nil) != run(setSeed: false, opSeed: nil)) // case 3
    }

    @Test func dropoutBackwardReusesTheForwardMask() throws {
        let s = SeedState()
        try s.setSeed(11)
        let kernel = RandomKernel(.dropout, seeds: try s.opSeeds(kernel: "dropout", opSeed: nil))
        let x = try Tensor(shape: [2, 5], values: (0..<10).map { Float($0) + 0.5 })
        let (y, mask) = try kernel.dropout(x, keepProb: 0.8)
        let dy = try Tensor(shape: [2, 5], values: [Float](repeating: 3, count: 10))
        let dx = try dropoutBackward(dy, mask: mask, keepProb: 0.8)
        let m = try mask.toArray(of: Float.self)
        #expect(try dx.toArray(of: Float.self) == m.map { 3 * $0 * (1 / Float(0.8)) })
        #expect(try y.toArray(of: Float.self) == zip(try x.toArray(of: Float.self), m).map { $0 * $1 * (1 / Float(0.8)) })
        #expect(throws: RandomError.self) { try dropoutBackward(try Tensor(shape: [3], values: [Float(1), 2, 3]), mask: mask, keepProb: 0.8) }
    }

    @Test func dropoutLayerKernelContinuesAcrossSteps() throws {
        let s = SeedState()
        try s.setSeed(3)
        // A Dropout layer takes its seeds once, at construction: kernel "dropout", op seed 0.
        let layer = RandomKernel(.dropout, seeds: try s.opSeeds(kernel: "dropout", opSeed: 0))
        let x = try Tensor(shape: [64], values: [Float](repeating: 1, count: 64))
        let (out1, mask1) = try layer.dropout(x, keepProb: 0.5)
        let (_, mask2) = try layer.dropout(x, keepProb: 0.5)
        #expect(mask1 != mask2)
        let m = try mask1.toArray(of: Float.self), o = try out1.toArray(of: Float.self)
        #expect(zip(m, o).allSatisfy { $0 == 0 ? $1 == 0 : $1 == 2 })
        #expect(m.contains(0) && m.contains(1))
    }
}

@Suite struct SeedEdgeCaseTests {
    @Test func setSeedZeroUsesTheDefaultGraphSeedForOpsOnly() throws {
        let s = SeedState()
        try s.setSeed(0)
        let p = try s.opSeeds(kernel: "uniform", opSeed: nil)
        #expect((p.seed, p.seed2) == (87_654_321, 0) && p.rule == .defaultGraphSeed(call: 1))
        #expect(s.datasetSeed == 0)
    }

    @Test func globalSeed2p31Minus1TruncatesToEntropyOnTheFirstCall() throws {
        let s = SeedState()
        try s.setSeed(2_147_483_647)
        let first = try s.opSeeds(kernel: "uniform", opSeed: nil)
        #expect(first.isEntropy && first.rule == .truncatedToEntropy)
        let second = try s.opSeeds(kernel: "uniform", opSeed: nil)
        #expect((second.seed, second.seed2) == (0, 533_697_028))
    }

    @Test func datasetSeed5489IsReplacedByEntropy() throws {
        let s = SeedState()
        #expect(s.shuffleSeed().entropy)               // never set
        try s.setSeed(5489)
        #expect(s.shuffleSeed().entropy)               // set to mt19937's default: entropy too
        try s.setSeed(5490)
        #expect(s.shuffleSeed() == (5490, false))
    }

    @Test func invalidSeedsAreRejected() throws {
        let s = SeedState()
        #expect(throws: RandomError.invalidSeed(call: "set_seed", value: -1, valid: "a seed is an integer from 0 to 4294967295 (numpy's limit)")) {
            try s.setSeed(-1)
        }
        #expect(throws: RandomError.self) { try s.setSeed(1 << 32) }
        #expect(throws: RandomError.invalidSeed(call: "uniform", value: -5, valid: "an op seed is a non-negative integer or None")) {
            try s.opSeeds(kernel: "uniform", opSeed: -5)
        }
        #expect(RandomError.invalidSeed(call: "set_seed", value: -1, valid: "x").description == "[set_seed] seed -1 is not valid; x")
    }

    @Test func invalidOpArgumentsAreRejected() throws {
        let s = SeedState()
        #expect(throws: RandomError.invalidArgument(call: "uniform", message: "minval 2.0 must not exceed maxval 1.0")) {
            try RandomOp.uniform([2], minval: 2, maxval: 1).run(state: s)
        }
        #expect(throws: RandomError.invalidArgument(call: "dropout", message: "p must be in [0, 1), got 1.0")) {
            try RandomOp.dropout([2], p: 1).run(state: s)
        }
        #expect(throws: RandomError.invalidArgument(call: "normal", message: "stddev must be non-negative, got -1.0")) {
            try RandomOp.normal([2], mean: 0, stddev: -1).run(state: s)
        }
    }

    @Test func initializerErrorsAndDefaults() throws {
        #expect(throws: RandomError.self) { try Initializer(name: "glorot") }
        #expect(throws: RandomError.invalidArgument(call: "initializer", message: "'fan_in' and 'fan_out' can not be computed for a tensor with fewer than 2 dimensions, got shape [5]")) {
            try Initializer.heUniform().make([5], seed: 1)
        }
        // Dense(784, 128): HeUniform(√5) has bound 1/√784 (up to rounding); every value within it.
        let (w, b) = Initializer.denseDefaults(inChannels: 784)
        let weight = try w.make([128, 784], seed: 12345).toArray(of: Float.self)
        #expect(weight.allSatisfy { abs($0) <= Float(1.0 / 28.0) * 1.000001 })
        #expect(weight.max()! > 0.035 && weight.min()! < -0.035)
        #expect(b == .uniform(scale: 1.0 / 28.0))
        let conv = try Initializer.conv2dDefaults(weightShape: [6, 1, 5, 5])
        #expect(conv.bias == .uniform(scale: 1.0 / 5.0))
        #expect(try Initializer.zero.make([3], state: SeedState()).toArray(of: Float.self) == [0, 0, 0])
        #expect(try Initializer.one.make([2], state: SeedState()).toArray(of: Float.self) == [1, 1])
    }

    @Test func constantInitializersDrawNoSeed() throws {
        let a = SeedState(), b = SeedState()
        try a.setSeed(9)
        try b.setSeed(9)
        _ = try Initializer.zero.make([4], state: a)
        #expect(try weight(a) == weight(b))
    }
}

@Suite struct SeedProgramParseTests {
    func parseError(_ text: String) -> SeedProgramError? {
        do {
            _ = try SeedProgram(text)
            return nil
        } catch {
            return error
        }
    }

    func runError(_ text: String) -> SeedProgramError? {
        do {
            _ = try SeedProgram(text).runPyNative(state: SeedState())
            return nil
        } catch {
            return error
        }
    }

    @Test func unknownCallPointsAtItsColumn() {
        let e = parseError("set_seed(1); unifrom([2], 0.0, 1.0)")
        #expect(e?.column == 14)
        #expect(e?.message.hasPrefix("unknown call 'unifrom'; calls are set_seed, uniform,") == true)
    }

    @Test func syntaxErrorsPointAtTheirColumn() {
        #expect(parseError("uniform([2, 0.0, 1.0)") == SeedProgramError(column: 21, message: "expected ',' or ']' to close the '[' at column 9, found ')'"))
        #expect(parseError("uniform([2], 0.0 1.0)") == SeedProgramError(column: 18, message: "expected ',' or ')' in the arguments of uniform, found '1'"))
        #expect(parseError("set_seed(1) uniform([2],0.0,1.0)")?.message == "expected ';' or a new line between calls, found 'u'")
        #expect(parseError("") == SeedProgramError(column: 1, message: "the program has no calls; calls are set_seed, uniform, standard_normal, normal, rand, randn, initializer, dropout, shuffle, numpy_normal, numpy_uniform"))
    }

    @Test func wrongArgumentsNameTheUsage() {
        #expect(runError("set_seed(1); uniform([2], 0.0)") == SeedProgramError(column: 14, message: "uniform is missing 'maxval'; usage: uniform(shape, minval, maxval, seed=…)"))
        #expect(runError("standard_normal([2], sed=3)")?.message == "standard_normal has no argument 'sed'; usage: standard_normal(shape, seed=…)")
        #expect(runError("set_seed(-3)") == SeedProgramError(column: 1, message: "[set_seed] seed -3 is not valid; a seed is an integer from 0 to 4294967295 (numpy's limit)"))
        #expect(runError("standard_normal([2], seed=-1)")?.message == "standard_normal: seed must be a non-negative integer or None, got -1")
        #expect(runError("uniform([2, -1], 0.0, 1.0)")?.message.hasPrefix("uniform: shape must be a list of non-negative integers") == true)
        #expect(runError("initializer(\"glorot\", [2, 2])")?.message.hasPrefix("[initializer] unknown initializer 'glorot'") == true)
    }

    @Test func mindsporeSpellingsAndPowers() throws {
        let p = try SeedProgram("ms.set_seed(2**31 - 1)\nops.uniform((2,), 0, 1); np.random.normal([1])")
        #expect(p.calls.map(\.name) == ["set_seed", "uniform", "numpy_normal"])
        #expect(p.calls[0].positional == [.int(2_147_483_647)])
        #expect(p.calls[1].positional == [.list([.int(2)]), .int(0), .int(1)])
        #expect(try SeedProgram("normal([1], -0.5, 1e-3, seed=2**3+1)").calls[0].positional == [.list([.int(1)]), .float(-0.5), .float(0.001)])
        #expect(try SeedProgram("normal([1], -0.5, 1e-3, seed=2**3+1)").calls[0].keywords.map(\.1) == [.int(9)])
    }
}
