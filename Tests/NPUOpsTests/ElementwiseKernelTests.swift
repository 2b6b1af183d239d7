import Foundation
import Testing
import NPUDevice
import NPUTensor
@testable import NPUOps

/// The C elementwise kernels and fused optimizer ops give the bits of the scalar definitions and
/// of the single-op chains they replace, for every operand layout and for special values.
@Suite struct ElementwiseKernelTests {
    let ctx = PyNative(device: Device(spec: .test), determinism: .on)

    /// Values with signed zeros, infinities, NaN, subnormals and ordinary numbers.
    func values(_ n: Int, seed: UInt64) -> [Float] {
        let special: [Float] = [0, -0.0, .infinity, -.infinity, .nan, Float(bitPattern: 0x0001_16C2) /* 1e-40, a subnormal */, -3, 0.5]
        let plain = try! sampleTensor([n], seed: seed).toArray(of: Float.self)
        return (0..<n).map { $0 % 5 == 0 ? special[($0 / 5 + Int(seed)) % special.count] : plain[$0] }
    }

    func bits(_ t: Tensor) throws -> [UInt32] { try t.toArray(of: Float.self).map(\.bitPattern) }

    @Test(arguments: [([4, 6], [4, 6]), ([4, 6], [1]), ([1], [4, 6]), ([4, 6], [6]), ([6], [4, 6]), ([2, 3, 4], [3, 4]), ([4, 6], [4, 1])] as [([Int], [Int])])
    func binaryKernelsMatchTheDefinition(sa: [Int], sb: [Int]) throws {
        let a = try Tensor(shape: Shape(sa), values: values(Shape(sa).count, seed: 1))
        let b = try Tensor(shape: Shape(sb), values: values(Shape(sb).count, seed: 2))
        let ops: [any BinaryElementwise] = [Add(), Sub(), Mul(), Div(), ReluGrad()]
        for op in ops {
            #expect(op.kernel != nil)
            let got = try bits(try ctx.run(op, [a, b])[0])
            let out = broadcastShapes(Shape(sa), Shape(sb))!
            let av = try a.toArray(of: Float.self), bv = try b.toArray(of: Float.self)
            var want = [UInt32](repeating: 0, count: out.count)
            forEachBroadcast(out, broadcastStrides(Shape(sa), to: out), broadcastStrides(Shape(sb), to: out)) { k, ia, ib in
                want[k] = op.apply(av[ia], bv[ib]).bitPattern
            }
            #expect(got == want, "\(op.type) \(sa) with \(sb)")
        }
    }

    @Test func reluAndBiasAddMatchTheDefinition() throws {
        let x = try Tensor(shape: [3, 4, 5], values: values(60, seed: 3)), bias = try Tensor(shape: [4], values: values(4, seed: 4))
        let xv = try x.toArray(of: Float.self), bv = try bias.toArray(of: Float.self)
        #expect(try bits(try ctx.run(ReLU(), [x])[0]) == xv.map { ($0 > 0 ? $0 : 0).bitPattern })
        #expect(try bits(try ctx.run(BiasAdd(), [x, bias])[0]) == (0..<60).map { (xv[$0] + bv[($0 / 5) % 4]).bitPattern })
        let x2 = try Tensor(shape: [3, 4], values: values(12, seed: 5))
        let x2v = try x2.toArray(of: Float.self)
        #expect(try bits(try ctx.run(BiasAdd(), [x2, bias])[0]) == (0..<12).map { (x2v[$0] + bv[$0 % 4]).bitPattern })
    }

    @Test func applyMomentumIsTheChainItReplaces() throws {
        let (p, a, g) = (sampleTensor([37]), sampleTensor([37], seed: 2), sampleTensor([37], seed: 3, scale: 5))
        let lr = Tensor(scalar: Float(0.01)), mu = Tensor(scalar: Float(0.9))
        let fused = try ctx.run(ApplyMomentum(), [p, a, lr, g, mu])
        let accum = try ctx.run(Add(), [try ctx.run(Mul(), [a, mu])[0], g])[0]
        let variable = try ctx.run(Sub(), [p, try ctx.run(Mul(), [lr, accum])[0]])[0]
        #expect(try bits(fused[0]) == bits(variable))
        #expect(try bits(fused[1]) == bits(accum))
    }

    @Test func adamIsTheChainItReplaces() throws {
        let (p, m, v, g) = (sampleTensor([37]), sampleTensor([37], seed: 2, scale: 0.1), sampleTensor([37], seed: 3, scale: 0.01, offset: 0.02),
                            sampleTensor([37], seed: 4))
        let s = { (x: Float) in Tensor(scalar: x) }
        let (b1p, b2p, lr, b1, b2, eps) = (s(0.729), s(0.997003), s(0.001), s(0.9), s(0.999), s(1e-8))
        let fused = try ctx.run(ApplyAdam(), [p, m, v, b1p, b2p, lr, b1, b2, eps, g])
        func op(_ o: any OpDef, _ x: [Tensor]) throws -> Tensor { try ctx.run(o, x)[0] }
        let correction = try op(Div(), [try op(Sqrt(), [try op(Sub(), [s(1), b2p])]), try op(Sub(), [s(1), b1p])])
        let lrT = try op(Mul(), [lr, correction])
        let m1 = try op(Add(), [m, try op(Mul(), [try op(Sub(), [g, m]), s(1 - 0.9)])])
        let v1 = try op(Add(), [v, try op(Mul(), [try op(Sub(), [try op(Mul(), [g, g]), v]), s(1 - 0.999)])])
        let step = try op(Div(), [try op(Mul(), [lrT, m1]), try op(Add(), [try op(Sqrt(), [v1]), eps])])
        #expect(try bits(fused[0]) == bits(try op(Sub(), [p, step])))
        #expect(try bits(fused[1]) == bits(m1))
        #expect(try bits(fused[2]) == bits(v1))
    }

    @Test func castBetweenFloat32AndFloat16MatchesSwift() throws {
        let v: [Float] = values(200, seed: 6) + [65504, 65520, 1e6, -1e-8, 6e-8, 3e-5, .ulpOfOne, 0.1]
        let x = try Tensor(shape: [v.count], values: v)
        let half = try ctx.run(Cast(to: .float16), [x])[0]
        #expect(try half.toArray(of: Float16.self).map(\.bitPattern) == v.map { Float16($0).bitPattern })
        let back = try ctx.run(Cast(to: .float32), [half])[0]
        #expect(try bits(back) == v.map { Float(Float16($0)).bitPattern })
    }

    /// The row kernel against the definition written out in Swift (max ignoring NaN, ordered sum).
    @Test(arguments: [false, true])
    func softmaxRowsMatchTheDefinition(log: Bool) throws {
        var v = values(4 * 7 * 3, seed: 7).map { $0.isInfinite ? 2 : $0 }
        v[10] = .nan
        let x = try Tensor(shape: [4, 7, 3], values: v)
        let got = try bits(try softmaxRows(x, axis: 1, log: log, op: "Softmax"))
        var want = v
        for o in 0..<4 {
            for i in 0..<3 {
                let at = { (r: Int) in (o * 7 + r) * 3 + i }
                var m = -Float.infinity
                for r in 0..<7 { m = max(m, v[at(r)]) }
                var s: Float = 0
                for r in 0..<7 { s += expf(v[at(r)] - m) }
                for r in 0..<7 { want[at(r)] = log ? v[at(r)] - m - logf(s) : expf(v[at(r)] - m) / s }
            }
        }
        #expect(got == want.map(\.bitPattern))
    }

    @Test func fusedOpsRejectBadShapes() throws {
        let x = sampleTensor([3]), s = Tensor(scalar: Float(1))
        #expect(throws: OpError("ApplyMomentum", "gradient is [4]; it must have the shape of variable, [3]")) {
            try ApplyMomentum().infer([x, x, s, sampleTensor([4]), s].map(\.type))
        }
        #expect(throws: OpError("ApplyMomentum", "momentum must be a scalar (one value), got [3]")) {
            try ApplyMomentum().infer([x, x, s, x, x].map(\.type))
        }
    }
}
