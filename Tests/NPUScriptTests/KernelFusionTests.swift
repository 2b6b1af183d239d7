import Foundation
import Testing
import NPUDevice
@testable import NPUGraph
@testable import NPUScript
import NPURandom
import NPUTensor
import NPUTrain

/// Graph mode on an Ascend profile fuses kernels as the card's compiler does
/// (Docs/DeviceModel.md, "Fusion"): the patterns, the bytes a fused kernel saves, and values that
/// do not change.
@Suite struct KernelFusionTests {
    static let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../examples/resnet_block.yaml").standardized.path

    /// The residual block with `kernel_fusion` and `amp_level` set: the kernel types of one step
    /// on card 0 and the losses of two steps.
    func run(_ fusion: String?, amp: String = "O0") throws -> (types: [String], kernels: [TaskRecord], losses: [Float]) {
        var text = try String(contentsOfFile: Self.example, encoding: .utf8)
        let extra = (fusion.map { ", kernel_fusion: \($0)" } ?? "") + ", amp_level: \(amp)"
        text = text.replacingOccurrences(of: "determinism: \"on\"}", with: "determinism: \"on\"\(extra)}")
        let script = try Script.parse(yaml: text, file: Self.example)
        var options = RunOptions()
        options.steps = 2
        options.record = true
        let run = try ScriptRunner.run(script, options)
        let kernels = run.devices[0].timeline.filter { if case .kernel = $0.kind { $0.info?.step == 0 } else { false } }
        return (kernels.map(\.type), kernels, run.losses.map(\.loss))
    }

    @Test func theResidualBlockFusesAsAscendsCompilerDoes() throws {
        let fused = try run(nil)  // ascend910's default: buffer fusion
        let none = try run("none")
        // Conv2D + BNTrainingReduce (ConvBnReduceFusionPass); BNTrainingUpdate + ReLU and
        // BNTrainingUpdate + Add + ReLU (BnupdateEltwise(Eltwise)FusionPass); the input gradient
        // with the residual Add and the ReLU's gradient (Conv2DBackpropEltwiseEltwiseFusionPass).
        for pattern in ["FusionOp_Conv2D_BNTrainingReduce", "FusionOp_BNTrainingUpdate_ReLU", "FusionOp_BNTrainingUpdate_Add_ReLU",
                        "FusionOp_Conv2DBackpropInput_Add_ReluGrad", "BNTrainingUpdateGrad", "BNTrainingReduceGrad"] {
            #expect(fused.types.contains(pattern), "\(pattern) in \(fused.types)")
        }
        #expect(!fused.types.contains("BatchNorm") && !fused.types.contains("ReLU"), "\(fused.types)")
        #expect(none.types.contains("BatchNorm") && none.types.contains("ReLU") && !none.types.contains { $0.hasPrefix("FusionOp_") })
        // The same values: fusion changes the card's tasks, never a bit the host computes.
        #expect(fused.losses.map(\.bitPattern) == none.losses.map(\.bitPattern) && fused.losses.count == 2)
        // The flops are all still there; the bytes are fewer (values that stay on the core).
        let flops = { (k: [TaskRecord]) in k.reduce(0.0) { $0 + $1.kind.flops + ($1.kind.work?.vectorFlops ?? 0) } }
        let bytes = { (k: [TaskRecord]) in k.reduce(0.0) { $0 + $1.kind.bytes } }
        #expect(fused.kernels.count < none.kernels.count)
        #expect(bytes(fused.kernels) < bytes(none.kernels))
        // BatchNorm's split adds the reduce's flops as a part of its own (3 + 5 per element for the
        // 8 of the unsplit op); the backward's (4 + 6 for 10): the totals agree to a tenth of a percent.
        #expect(abs(flops(fused.kernels) - flops(none.kernels)) / flops(none.kernels) < 1e-3, "\(flops(fused.kernels)) against \(flops(none.kernels))")
    }

    /// A fused kernel's bytes are what crosses HBM: BNTrainingUpdate + ReLU reads the convolution's
    /// output and the BatchNorm's four per-channel inputs, and writes the ReLU's output and the
    /// two batch statistics — the BatchNorm's output never leaves the core.
    @Test func aFusedKernelMovesOnlyWhatCrossesHBM() throws {
        let fused = try run(nil)
        let k = try #require(fused.kernels.first { $0.type == "FusionOp_BNTrainingUpdate_ReLU" })
        // conv1's output is [32, 8, 8, 8] float32 (pad_mode same); the statistics and parameters [8].
        let activation = 32.0 * 8 * 8 * 8 * 4, channel = 8.0 * 4
        #expect(k.kind.bytes == 2 * activation + 4 * channel + 2 * channel, "\(k.kind.bytes)")
    }

    /// Graph-kernel fusion (MindSpore's enable_graph_kernel) clusters more: never more kernels
    /// than buffer fusion, the same bits.
    @Test func graphKernelFusionClustersVectorOps() throws {
        let buffer = try run("buffer"), graph = try run("graph_kernel")
        #expect(graph.kernels.count < buffer.kernels.count, "\(graph.types)")
        #expect(graph.losses.map(\.bitPattern) == buffer.losses.map(\.bitPattern))
    }

    /// Under O2 activations are float16 on the card (MindSpore's O2 casts the network): the same
    /// kernels move fewer bytes, and a cast between two float16 values launches nothing.
    @Test func o2StoresActivationsInFloat16() throws {
        let o0 = try run("none"), o2 = try run("none", amp: "O2")
        let relu = { (k: [TaskRecord]) in k.first { $0.type == "ReLU" }?.kind.bytes }
        #expect(try #require(relu(o2.kernels)) == 0.5 * (try #require(relu(o0.kernels))))
        // The casts left: the input's and each parameter's (three weights, fc's bias) to float16,
        // each of those parameters' gradients back.
        let casts = o2.kernels.filter { $0.type == "Cast" }
        #expect(casts.count == 5 + 4, "\(casts.map(\.name))")
    }
}

/// The model zoo's graphs (ResNet-50, BERT-Large), compiled on shapes alone as `simulate` does:
/// no planned kernel launches before a value it reads exists, under buffer and graph-kernel fusion.
@Suite struct ZooKernelPlanTests {
    static let zoo = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../examples/zoo").standardized

    @Test(arguments: ["resnet50.yaml", "bert_large.yaml"], [FusionLevel.buffer, .graphKernel])
    func zooPlansLaunchNothingEarly(file: String, fusion: FusionLevel) throws {
        let script = try Script.load(path: Self.zoo.appendingPathComponent(file).path)
        let builder = Builder(script: script)
        let sample = try builder.dataset().sampleType(), batch = try builder.dataset().batchSize
        var configuration = StepConfiguration(ampLevel: script.context.ampLevel, timingOnly: true)
        configuration.kernelFusion = fusion
        let ctx = LayerContext(store: ParameterStore(shapeOnly: true), seeds: SeedState())
        let net = try builder.network(ctx)
        let step = try TrainStep(model: NetworkWithLoss(network: net, loss: try builder.loss()),
                                 inputs: ["data": TensorType(sample.dtype, Shape([batch] + sample.shape.dims)), "label": TensorType(.int32, [batch])],
                                 optimizer: try builder.optimizer(net.parameters, ctx), mode: .graph, device: Device(spec: .ascend910),
                                 store: ctx.store, configuration: configuration)
        let compiled = try #require(step.compiled)
        #expect(compiled.launchOrderViolations().prefix(3) == [])
        #expect(compiled.kernels.launches.joined().contains { $0.type.hasPrefix("FusionOp_") })
    }
}

extension TaskKind {
    var work: Work? { if case .kernel(let w) = self { w } else { nil } }
}
