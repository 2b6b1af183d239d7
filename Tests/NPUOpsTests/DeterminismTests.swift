import Testing
import NPUDevice
import NPURandom
import NPUTensor
@testable import NPUOps

/// One planned reduction site, with inputs big enough to split and data that exposes rounding.
struct PlannedCase: CustomTestStringConvertible, Sendable {
    var name: String
    /// The reduced values all have one sign (a mean of losses): no cancellation, so the orders'
    /// results lie within a few ulps of each other (see offWithEntropyDiffersInMostLaunches).
    var sameSign = false
    var make: @Sendable () -> (op: any OpDef, inputs: [Tensor], outputs: [Int])
    var testDescription: String { name }
}

/// Rounding-prone float data (wide exponents, both signs) as a tensor.
func roundingTensor(_ shape: Shape, seed: UInt64) -> Tensor {
    try! Tensor(shape: shape, values: roundingData(shape.count, seed: seed))
}

let plannedCases: [PlannedCase] = [
    PlannedCase(name: "ReduceSum/sum") { (ReduceSum(axes: [1]), [roundingTensor([3, 4096], seed: 1)], [0]) },
    PlannedCase(name: "ReduceMean/sum") { (ReduceMean(axes: [0]), [roundingTensor([2048, 4], seed: 2)], [0]) },
    PlannedCase(name: "MatMul/splitK (weight gradient)") {
        (MatMul(transposeA: true, splitK: .always), [roundingTensor([512, 8], seed: 3), roundingTensor([512, 6], seed: 4)], [0])
    },
    PlannedCase(name: "BatchMatMul/splitK (auto)") { (BatchMatMul(), [roundingTensor([2, 2, 1024], seed: 5), roundingTensor([2, 1024, 3], seed: 6)], [0]) },
    PlannedCase(name: "SoftmaxCrossEntropyWithLogits/mean", sameSign: true) {
        let labels = try! Tensor(shape: [1024], values: (0..<1024).map { Int32($0 % 7) })
        // Losses of a few units with full-precision low bits (logits within ±2), and every 97th
        // sample with a huge loss (its label logit −1e5): where the large block partials fall in
        // the order decides how the small ones round.
        var logits = try! sampleTensor([1024, 7], seed: 7, scale: 2).toArray(of: Float.self)
        for r in stride(from: 0, to: 1024, by: 97) { logits[r * 7 + r % 7] = -1e5 }
        return (SoftmaxCrossEntropyWithLogits(sparse: true), [try! Tensor(shape: [1024, 7], values: logits), labels], [0])
    },
    PlannedCase(name: "GatherGrad/scatter-add") {
        let idx = try! Tensor(shape: [2048], values: (0..<2048).map { Int32(($0 * 7) % 5) })
        return (GatherGrad(rows: 5), [roundingTensor([2048, 3], seed: 8), idx], [0])
    },
    PlannedCase(name: "Conv2DBackpropFilter/dW") {
        (Conv2DBackpropFilter(ConvAttributes(stride: (1, 1), padMode: .valid, dilation: (1, 1)), filterShape: [2, 2, 3, 3]),
         [roundingTensor([512, 2, 4, 4], seed: 9), roundingTensor([512, 2, 6, 6], seed: 10)], [0])
    },
    PlannedCase(name: "BatchNorm/mean+variance") {
        (BatchNorm(isTraining: true), [roundingTensor([64, 3, 8, 8], seed: 11), sampleTensor([3]), sampleTensor([3]),
                                       Tensor(zeros: [3]), Tensor(zeros: [3])], [1, 2])
    },
    PlannedCase(name: "BatchNormGrad/dgamma+dbeta") {
        (BatchNormGrad(isTraining: true, epsilon: 1e-5), [roundingTensor([64, 3, 8, 8], seed: 12), roundingTensor([64, 3, 8, 8], seed: 13),
                                                          sampleTensor([3]), sampleTensor([3]), sampleTensor([3], offset: 2)], [1, 2])
    },
    PlannedCase(name: "LayerNorm/mean+variance") {
        (LayerNorm(), [roundingTensor([4, 2048], seed: 14), sampleTensor([2048]), sampleTensor([2048], seed: 2)], [1, 2])
    },
    PlannedCase(name: "LayerNormGrad/dgamma+dbeta+dx") {
        (LayerNormGrad(beginNormAxis: -1, epsilon: 1e-7), [roundingTensor([1024, 64], seed: 15), roundingTensor([1024, 64], seed: 16),
                                                          sampleTensor([1024, 1], offset: 2), sampleTensor([1024, 1]), sampleTensor([64])], [0, 1, 2])
    },
]

/// The bits of the selected outputs of one launch.
func launchBits(_ c: (op: any OpDef, inputs: [Tensor], outputs: [Int]), _ planner: ReductionPlanner) throws -> [UInt32] {
    let outs = try c.op.forward(c.inputs, KernelContext(planner: planner))
    return c.outputs.flatMap { try! outs[$0].toArray(of: Float.self).map(\.bitPattern) }
}

func makePlanner(_ policy: Determinism, _ source: OrderSource = .entropy, blocks: Int? = nil) -> ReductionPlanner {
    let p = ReductionPlanner(spec: .ascend910, policy: policy, source: source)
    p.forcedBlocks = blocks
    return p
}

@Suite struct DeterminismTests {
    /// The sites the cases' launches really plan (recorded by the planner), against the sites the
    /// catalogue declares: a site an op plans but does not declare, or declares but never plans
    /// here, fails.
    @Test func everyPlannedSiteOfTheCatalogueIsCovered() throws {
        let declared = Set(OpCatalog.all.flatMap { info in info.plannedReductions.map { "\(info.type)/\($0)" } })
        var planned = Set<String>()
        for c in plannedCases {
            let made = c.make(), p = makePlanner(.off)
            p.recording = true
            _ = try made.op.forward(made.inputs, KernelContext(planner: p))
            #expect(!p.plans.isEmpty, "\(c.name) planned nothing")
            planned.formUnion(p.plans.map { "\($0.op)/\($0.site)" })
        }
        #expect(planned == declared, "planned, not declared: \(planned.subtracting(declared).sorted()); declared, not planned: \(declared.subtracting(planned).sorted())")
    }

    @Test(arguments: plannedCases)
    func onGivesIdenticalBitsOverTwentyLaunches(c: PlannedCase) throws {
        let made = c.make(), p = makePlanner(.on)
        let first = try launchBits(made, p)
        for _ in 0..<20 { #expect(try launchBits(made, p) == first) }
    }

    /// Mixed-sign data: most of 20 launches give distinct bits. A sum of one-signed values cannot:
    /// every running sum is at most the total, so each of the 31 additions of 32 partials errs by at
    /// most half the total's ulp and the results cluster within a few ulps (measured for the loss
    /// mean: 59 % of launches equal the fixed order, the rest ±1–2 ulp). There the test asks that
    /// the nondeterminism shows: over 200 launches, at least 3 distinct results and a quarter
    /// differing from the fixed order.
    @Test(arguments: plannedCases)
    func offWithEntropyDiffersInMostLaunches(c: PlannedCase) throws {
        let made = c.make(), p = makePlanner(.off)
        if !c.sameSign {
            let results = try (0..<20).map { _ in try launchBits(made, p) }
            #expect(Set(results).count >= 11, "\(c.name): only \(Set(results).count) distinct results in 20 launches")
            return
        }
        let fixed = try launchBits(made, makePlanner(.on))
        let results = try (0..<200).map { _ in try launchBits(made, p) }
        #expect(Set(results).count >= 3)
        #expect(results.filter { $0 != fixed }.count >= 50, "\(c.name): \(results.filter { $0 != fixed }.count) of 200 launches differ from the fixed order")
    }

    @Test(arguments: plannedCases)
    func offReplayRepeatsAndOtherSeedsDiffer(c: PlannedCase) throws {
        let made = c.make()
        func run(_ seed: UInt64) throws -> [[UInt32]] {
            let p = makePlanner(.off, .replay(seed))
            return try (0..<3).map { _ in try launchBits(made, p) }
        }
        #expect(try run(1) == run(1))
        #expect(try run(1) != run(2))
    }

    @Test(arguments: plannedCases)
    func strictIsIndependentOfBlockOrderAndCount(c: PlannedCase) throws {
        let made = c.make()
        let reference = try launchBits(made, makePlanner(.strict, blocks: 1))
        for blocks in [2, 7, 32] {
            for source in [OrderSource.entropy, .replay(5)] {
                #expect(try launchBits(made, makePlanner(.strict, source, blocks: blocks)) == reference)
            }
        }
    }

    @Test func strictMatMulEqualsTheCorrectlyRoundedDotProducts() throws {
        // Values are m·2^e with m on a 2^-24 grid and e ≥ −12, so every product is a multiple of
        // 2^-72 (checked below): scaled by 2^72 the products are integers and their Int128 sum is
        // the exact dot product, rounded once by the conversion to Float.
        let a = roundingTensor([300, 2], seed: 21), b = roundingTensor([300, 3], seed: 22)
        let out = try MatMul(transposeA: true, splitK: .always).forward([a, b], KernelContext(planner: makePlanner(.strict, blocks: 7)))[0]
        let av = try a.toArray(of: Float.self), bv = try b.toArray(of: Float.self), got = try out.toArray(of: Float.self)
        for i in 0..<2 {
            for j in 0..<3 {
                var exact: Int128 = 0
                for k in 0..<300 {
                    let scaled = Double(av[k * 2 + i]) * Double(bv[k * 3 + j]) * 0x1p72  // exact: 48-bit products, power-of-two scale
                    try #require(scaled == scaled.rounded(), "product \(k) is not a multiple of 2^-72")
                    exact += Int128(scaled)
                }
                #expect(got[i * 3 + j].bitPattern == (Float(exact) * 0x1p-72).bitPattern)
            }
        }
    }

    @Test func randomNumbersIgnoreTheDeterminismPolicy() throws {
        func draw(_ policy: Determinism) throws -> [UInt32] {
            let s = SeedState()
            try s.setSeed(3)
            let ctx = PyNative(device: Device(spec: .test), determinism: policy)
            let op = Dropout(keepProb: 0.5, kernel: RandomKernel(.dropout, seeds: try s.opSeeds(kernel: "dropout", opSeed: nil)))
            return try ctx.run(op, [sampleTensor([64])])[1].toArray(of: Float.self).map(\.bitPattern)
        }
        #expect(try draw(.off) == draw(.on))
        #expect(try draw(.on) == draw(.strict))
    }
}
