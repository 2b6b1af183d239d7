import Testing
import NPUDevice
import NPUKernels
import NPUOps
import NPUTensor
@testable import NPUCollective

/// Every card's contribution: values of mixed signs and magnitudes (so the summation order shows
/// in the bits), exponents within 2^-20…2^1 so that a double adds 16 of them exactly.
func contributions(cards: Int, count: Int, seed: UInt64) -> [[Tensor]] {
    var state = seed
    func next() -> Float {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        let mantissa = Float((state >> 40) & 0xFFFFFF) / Float(1 << 24)
        let exponent = Float(Int((state >> 20) & 15)) - 14
        return (state >> 63 == 0 ? 1 : -1) * (1 + mantissa) * Float(pow2: Int(exponent))
    }
    return (0..<cards).map { _ in [try! Tensor(shape: [count], values: (0..<count).map { _ in next() })] }
}

extension Float {
    init(pow2 e: Int) { self = Float(sign: .plus, exponent: e, significand: 1) }
}

func context(_ policy: Determinism, _ source: OrderSource = .entropy, step: Int = 0) -> KernelContext {
    let planner = ReductionPlanner(spec: .ascend910, policy: policy, source: source)
    planner.step = step
    planner.enter(op: "Gradients/AllReduce")
    return KernelContext(planner: planner)
}

func bits(_ out: [[Tensor]]) -> [UInt32] { (try? out[0][0].toArray(of: Float.self).map(\.bitPattern)) ?? [] }

@Suite struct AllReduceTests {
    static let algorithms = AllReduceAlgorithm.allCases
    static let cardCounts = [1, 2, 3, 8, 16]

    /// Each algorithm on 1, 2, 3, 8 and 16 cards: within N − 1 roundings of the double-precision
    /// sum, every card the same bits.
    @Test(arguments: algorithms, cardCounts)
    func sumsAreCloseToTheDoubleReferenceOnEveryCard(algorithm: AllReduceAlgorithm, cards: Int) throws {
        let x = contributions(cards: cards, count: 1000, seed: 1)
        for policy in Determinism.allCases {
            let op = AllReduce(cards: cards, algorithm: algorithm, cardsPerServer: 4)
            let out = try op.combine(x, context(policy))
            #expect(out.count == cards && out.allSatisfy { bits([$0]) == bits(out) })
            let values = try out[0][0].toArray(of: Float.self)
            let inputs = try x.map { try $0[0].toArray(of: Float.self) }
            for i in 0..<1000 {
                let exact = inputs.reduce(0.0) { $0 + Double($1[i]) }, magnitude = inputs.reduce(0.0) { $0 + abs(Double($1[i])) }
                let bound = policy == .strict ? abs(exact) * 0x1p-24 : Double(max(cards - 1, 1)) * magnitude * 0x1p-24
                #expect(abs(Double(values[i]) - exact) <= bound, "\(algorithm) \(cards) cards \(policy): element \(i)")
            }
        }
    }

    /// The strict combine's fast path (each column added in double, every addition's error found
    /// exactly) gives the exact accumulator's bits, and hands it the columns a double cannot add
    /// exactly: a huge value cancelled around a small one, a tie decided far below, zeros of
    /// either sign, subnormals, infinities and NaN — on 1, 3 and 8 cards, with the mean's divisor.
    @Test(arguments: [1, 3, 8])
    func theStrictFastPathGivesTheExactAccumulatorsBits(cards: Int) throws {
        let hard: [[Float]] = [
            [1e30, 1, -1e30], [16777216, 1, 1e-30], [-0.0, -0.0, -0.0], [3.5, -3.5, 0], [.infinity, 1, 2], [.infinity, -.infinity, 0],
            [.nan, 1, 1], [Float.leastNonzeroMagnitude, Float.leastNonzeroMagnitude, -0.0], [Float.greatestFiniteMagnitude, Float.greatestFiniteMagnitude, 1],
            [1, 0x1p-60, -0x1p-70], [0x1p100, 0x1p-100, -0x1p100], [0.1, 0.2, 0.3],
            // A tie at float precision that a bit far below breaks: lost in a double sum.
            [1, 0x1p-24, 0x1p-60], [1, 0x1p-24, -0x1p-60], [1, 0x1p-24, 0x1p-40], [1, 0x1p-24, 0x1p-26],
            [0x1.fffffep0, 0x1.fffffep-30, 0x1.fffffep-50],
        ]
        var columns = hard
        var state: UInt64 = 7
        for _ in 0..<500 {  // like magnitudes, as gradients are
            columns.append((0..<3).map { _ in
                state = state &* 6364136223846793005 &+ 1442695040888963407
                return Float(bitPattern: UInt32(truncatingIfNeeded: state >> 33) & 0xBF7F_FFFF | 0x3000_0000)
            })
        }
        let n = columns.count
        let x = (0..<cards).map { k in [try! Tensor(shape: [n], values: columns.map { $0[k % 3] * (k < 3 ? 1 : 0.5) })] }
        let inputs = try x.map { try $0[0].toArray(of: Float.self) }
        for mean in [false, true] {
            let out = try AllReduce(cards: cards, algorithm: .ring, mean: mean).combine(x, context(.strict))[0][0].toArray(of: Float.self)
            for i in 0..<n {
                var acc = npu_exact()
                npu_exact_init(&acc)
                var column = inputs.map { $0[i] }
                npu_exact_add_f32(&acc, &column, column.count)
                let expected = npu_exact_round_f32(&acc) / (mean ? Float(cards) : 1)
                #expect(out[i].bitPattern == expected.bitPattern || (out[i].isNaN && expected.isNaN), "column \(i) \(column): \(out[i]) against \(expected)")
            }
        }
    }

    @Test(arguments: algorithms)
    func onIsTheSameEveryRunOffDiffersAndReplaysAndStrictIsTheCorrectlyRoundedSum(algorithm: AllReduceAlgorithm) throws {
        let x = contributions(cards: 8, count: 4096, seed: 2)
        let op = AllReduce(cards: 8, algorithm: algorithm, cardsPerServer: 4)
        let on = try bits(op.combine(x, context(.on)))
        for _ in 0..<10 { #expect(try bits(op.combine(x, context(.on))) == on) }
        let a = try bits(op.combine(x, context(.off))), b = try bits(op.combine(x, context(.off)))
        #expect(a != b, "two entropy-seeded runs gave the same bits")
        #expect(try bits(op.combine(x, context(.off, .replay(9)))) == bits(op.combine(x, context(.off, .replay(9)))))
        #expect(try bits(op.combine(x, context(.off, .replay(9), step: 1))) != bits(op.combine(x, context(.off, .replay(9), step: 0))), "orders must change with the step")
        let inputs = try x.map { try $0[0].toArray(of: Float.self) }
        let rounded = (0..<4096).map { i in Float(inputs.reduce(0.0) { $0 + Double($1[i]) }).bitPattern }
        #expect(try bits(op.combine(x, context(.strict))) == rounded)
    }

    @Test func strictIsTheSameForEveryAlgorithmAndOnIsNot() throws {
        let x = contributions(cards: 16, count: 4096, seed: 3)
        let strict = try AllReduceAlgorithm.allCases.map { try bits(AllReduce(cards: 16, algorithm: $0, cardsPerServer: 8).combine(x, context(.strict))) }
        #expect(strict.allSatisfy { $0 == strict[0] })
        let on = try AllReduceAlgorithm.allCases.map { try bits(AllReduce(cards: 16, algorithm: $0, cardsPerServer: 8).combine(x, context(.on))) }
        #expect(on[0] != on[1] && on[1] != on[2], "the algorithms' fixed orders should differ somewhere")
    }

    /// The on-order of the ring is the ring's: chunk c added along c+1, c+2, …, c.
    @Test func theRingAddsAlongTheRing() throws {
        let x: [[Tensor]] = [[try Tensor(shape: [3], values: [Float(1e8), 1, 1])], [try Tensor(shape: [3], values: [Float(-1e8), 1, 1])],
                             [try Tensor(shape: [3], values: [Float(1), 1e8, 1])]]
        // Chunk 0 (element 0) along cards 1, 2, 0: (−1e8 + 1) + 1e8 = 0 in float32 (1 is lost).
        let ring = try AllReduce(cards: 3, algorithm: .ring).combine(x, context(.on))[0][0].toArray(of: Float.self)
        #expect(ring[0] == 0)
        // The mesh adds the owner's own chunk first: (1e8 + −1e8) + 1 = 1.
        let mesh = try AllReduce(cards: 3, algorithm: .mesh).combine(x, context(.on))[0][0].toArray(of: Float.self)
        #expect(mesh[0] == 1)
        #expect(try AllReduce(cards: 3, algorithm: .ring).combine(x, context(.strict))[0][0].toArray(of: Float.self)[0] == 1)
    }

    /// A fused bucket is one buffer: split into tensors of any sizes (chunks then cross tensor
    /// boundaries; the hierarchical servers' partial sums are split differently from the
    /// outputs), every algorithm and policy gives the bits of the buffer as one tensor.
    @Test(arguments: algorithms, [3, 8, 16])
    func aBucketOfSeveralTensorsSumsAsOneBuffer(algorithm: AllReduceAlgorithm, cards: Int) throws {
        let whole = contributions(cards: cards, count: 1000, seed: 4)
        let sizes = [1, 499, 3, 7, 490]
        let split = try whole.map { card -> [Tensor] in
            let v = try card[0].toArray(of: Float.self)
            var start = 0
            return try sizes.map { n in
                defer { start += n }
                return try Tensor(shape: n == 7 ? [7, 1] : [n], values: Array(v[start..<(start + n)]))
            }
        }
        for (policy, source) in [(Determinism.on, OrderSource.entropy), (.off, .replay(5)), (.strict, .entropy)] {
            let op = AllReduce(cards: cards, algorithm: algorithm, mean: true, cardsPerServer: 4)
            let one = try op.combine(whole, context(policy, source))
            let parts = try op.combine(split, context(policy, source))
            for k in [0, cards - 1] {
                let joined = try parts[k].flatMap { try $0.toArray(of: Float.self).map(\.bitPattern) }
                #expect(joined == (try one[k][0].toArray(of: Float.self).map(\.bitPattern)), "\(algorithm) \(cards) cards \(policy), card \(k)")
                #expect(parts[k].map(\.shape) == split[0].map(\.shape))
            }
        }
    }

    @Test func meanFusedBucketsAndLinkHops() throws {
        let x: [[Tensor]] = (0..<4).map { k in [try! Tensor(shape: [2], values: [Float(k), 1]), try! Tensor(shape: [1, 1], values: [Float(2 * k)])] }
        let out = try AllReduce(cards: 4, algorithm: .ring, mean: true).combine(x, context(.on))
        #expect(try out[3][0].toArray(of: Float.self) == [1.5, 1] && out[3][1].shape == [1, 1] && out[3][1].toArray(of: Float.self) == [3])
        let types = [TensorType(.float32, [1000])]
        #expect(AllReduce(cards: 4, algorithm: .ring).transfers(types, cardsPerServer: 8, board: .onBoard) == Array(repeating: LinkHop(bytes: 1000, link: .onBoard), count: 6))
        #expect(AllReduce(cards: 4, algorithm: .mesh).transfers(types, cardsPerServer: 8, board: .onBoard) == Array(repeating: LinkHop(bytes: 3000, link: .onBoard), count: 2))
        let two = AllReduce(cards: 16, algorithm: .hierarchical, cardsPerServer: 8).transfers(types, cardsPerServer: 8, board: .onBoard)
        #expect(two == [LinkHop(bytes: 3500, link: .onBoard), LinkHop(bytes: 250, link: .interServer), LinkHop(bytes: 250, link: .interServer), LinkHop(bytes: 3500, link: .onBoard)])
        #expect(throws: OpError.self) { try AllReduce(cards: 2, algorithm: .ring).infer([TensorType(.int32, [2])]) }
    }
}

@Suite struct OtherCollectiveTests {
    @Test func reduceScatterAllGatherAndBroadcast() throws {
        let x = contributions(cards: 4, count: 8, seed: 4)
        let sum = try AllReduce(cards: 4, algorithm: .ring).combine(x, context(.on))[0][0].toArray(of: Float.self)
        let scattered = try ReduceScatter(cards: 4).combine(x, context(.on))
        // The same ring order per chunk as the ring AllReduce: card k's rows are its chunk of the sum.
        #expect(try scattered.flatMap { try $0[0].toArray(of: Float.self) }.map(\.bitPattern) == sum.map(\.bitPattern))
        #expect(scattered[1][0].shape == [2])
        let gathered = try AllGather(cards: 4).combine(scattered, context(.on))
        #expect(try gathered[2][0].toArray(of: Float.self).map(\.bitPattern) == sum.map(\.bitPattern))
        let root = try Broadcast(cards: 4, root: 2).combine(x, context(.on))
        #expect(try root[0][0].toArray(of: Float.self) == x[2][0].toArray(of: Float.self))
        #expect(throws: OpError.self) { try ReduceScatter(cards: 3).infer([TensorType(.float32, [8])]) }
        #expect(Broadcast(cards: 5).transfers([TensorType(.float32, [10])], cardsPerServer: 8, board: .onBoard).count == 3)
    }
}
