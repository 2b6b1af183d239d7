import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
@testable import NPUTrain

/// What the cost model says about a training step: O2 cube work at float16 rates, the widening of
/// a float16 operand costs nothing, and a kernel's time follows the AI cores its tiling can use.
@Suite struct CostModelTrainingTests {
    /// One graph-mode step of Dense(in, out) → ReLU → Dense(out, 10) on `spec`; the step's kernel
    /// records.
    func kernels(_ amp: AmpLevel, spec: DeviceSpec, width: Int, rows: Int) throws -> (records: [TaskRecord], deviceTime: SimTime) {
        let ctx = try context()
        let net = SequentialCell([try Dense(width, width, name: "fc1", ctx), OpLayer.relu(), try Dense(width, 10, name: "fc2", ctx)])
        let device = Device(spec: spec)
        let step = try TrainStep(network: net, loss: SoftmaxCrossEntropyLoss(), optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx),
                                 mode: .graph, device: device, store: ctx.store, determinism: .on, ampLevel: amp,
                                 inputType: TensorType(.float32, [rows, width]), labelType: TensorType(.int32, [rows]))
        let (x, y) = batch(0, [rows, width], classes: 10)
        let start = device.synchronize()
        _ = try step(x, y)
        let end = device.synchronize()
        return (device.timeline.filter { if case .kernel = $0.kind { true } else { false } }, end - start)
    }

    @Test func o2CubeWorkRunsAtFloat16RatesOnAscend910B() throws {
        // Every op a kernel of its own, so that each product's time is its own.
        var spec = DeviceSpec.ascend910b
        spec.ubFusion = false
        let o0 = try kernels(.O0, spec: spec, width: 512, rows: 256)
        let o2 = try kernels(.O2, spec: spec, width: 512, rows: 256)
        func matmuls(_ r: [TaskRecord]) -> [TaskRecord] { r.filter { $0.type == "MatMul" } }
        #expect(matmuls(o0.records).count == matmuls(o2.records).count && !matmuls(o2.records).isEmpty)
        for (a, b) in zip(matmuls(o0.records), matmuls(o2.records)) {
            guard case .kernel(let w0) = a.kind, case .kernel(let w2) = b.kind else { continue }
            #expect(w0.precision == .float32 && w2.precision == .float16, "\(b.name)")
            #expect(b.duration < a.duration, "\(b.name): O2 \(b.duration), O0 \(a.duration)")
        }
        // The forward fc1 product: 2·256·512·512 flops at 313 TFLOP/s (float16) against 78 (float32);
        // its bytes at the 83 % of 1.6 TB/s HBM sustains: float16 operands, and a float16 result,
        // since O2 stores activations in float16.
        let fc1 = try #require(matmuls(o2.records).first { $0.name == "fc1/MatMul" })
        let flops: Double = 2 * 256 * 512 * 512, bytes: Double = 2 * (256 * 512 + 512 * 512) + 2 * 256 * 512
        let expected = DeviceSpec.ascend910b.launchOverhead + SimTime.seconds(max(flops / 313e12, bytes / (1.6e12 * 0.83)))
        #expect(fc1.duration == expected)
        // Only the float32 → float16 casts launch: the widening back exists only on the host.
        let casts = o2.records.filter { $0.type == "Cast" }
        // The network computes in float16 (MindSpore's O2 casts every parameter of its cells), so
        // the casts the card runs are the input's and each weight's and bias's to float16, and each
        // of their gradients' back to float32; a cast between two float16 activations exists only
        // in the host's graph.
        #expect(casts.count == 5 + 4, "\(casts.map(\.name))")
        // The cube's share of the step shrinks by the float16 rate (the casts' launches still
        // cost: on a net this small O2 does not pay off, as on a card).
        func cubeTime(_ r: [TaskRecord]) -> SimTime { r.filter { $0.engine == .cube }.reduce(SimTime.zero) { $0 + $1.duration } }
        #expect(cubeTime(o2.records) < cubeTime(o0.records))
    }

    @Test func aKernelUsesTheCoresItsTilingGives() {
        let spec = DeviceSpec.ascend910  // 32 cores, 16×16 cube tiles, 8-element blocks
        #expect(spec.usableCores(nil) == 32)
        #expect(spec.usableCores(.matrix(batch: 1, rows: 16, columns: 16, splitK: 0)) == 1)
        #expect(spec.usableCores(.matrix(batch: 1, rows: 32, columns: 40, splitK: 0)) == 6)
        #expect(spec.usableCores(.matrix(batch: 1, rows: 16, columns: 16, splitK: 32)) == 4)  // K split into 4 blocks
        #expect(spec.usableCores(.matrix(batch: 3, rows: 256, columns: 256, splitK: 0)) == 32)
        #expect(spec.usableCores(.elements(20)) == 3 && spec.usableCores(.elements(1 << 20)) == 32)
        let model = CostModel(spec: spec)
        let one = Work(flops: 256e6, bytes: 0, unit: .cube, tiling: .matrix(batch: 1, rows: 16, columns: 16, splitK: 0))
        let all = Work(flops: 256e6, bytes: 0, unit: .cube)
        // At the cube's sustained 216 TFLOP/s: 256e6 FLOPs on one core of 32 take 32 × 256e6 / 216e12 s.
        #expect(model.computeTime(one) == .seconds(32 * 256e6 / 216e12) && model.computeTime(all) == .seconds(256e6 / 216e12))
    }
}
