import Testing
import NPUDevice
@testable import NPUGraph
import NPUOps
import NPUTensor
import NPUTrain

/// The kernel planner never launches a fused kernel before a value it reads exists, whatever it
/// fuses (conv + BatchNorm + ReLU chains, a residual, Adam's update, graph-kernel clusters, O2's
/// dropped casts), and every op that computes is in exactly one kernel's members (or a part of a
/// split op in two).
@Suite struct KernelPlanTests {
    func compiled(_ fusion: FusionLevel, _ amp: AmpLevel) throws -> CompiledGraph {
        let ctx = try context()
        let conv1 = try Conv2d(1, 4, kernel: 3, name: "conv1", ctx), conv2 = try Conv2d(4, 4, kernel: 3, name: "conv2", ctx)
        let net = SequentialCell([conv1, try BatchNorm2d(4, name: "bn1", ctx), OpLayer.relu(), conv2, try BatchNorm2d(4, name: "bn2", ctx),
                                  OpLayer.relu(), Flatten(), try Dense(4 * 6 * 6, 16, name: "fc1", ctx), OpLayer.gelu(),
                                  try Dense(16, 3, name: "fc2", ctx)])
        var configuration = StepConfiguration(ampLevel: amp)
        configuration.kernelFusion = fusion
        let step = try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                                 inputs: ["data": TensorType(.float32, [8, 1, 6, 6]), "label": TensorType(.int32, [8])],
                                 optimizer: try AdamWeightDecay(net.parameters, learningRate: 0.01, weightDecay: 0.01, ctx),
                                 mode: .graph, device: Device(spec: .ascend910), store: ctx.store, configuration: configuration)
        return try #require(step.compiled)
    }

    @Test(arguments: [FusionLevel.none, .buffer, .graphKernel], [AmpLevel.O0, .O2])
    func noKernelLaunchesBeforeWhatItReads(fusion: FusionLevel, amp: AmpLevel) throws {
        let g = try compiled(fusion, amp)
        #expect(g.launchOrderViolations() == [])
        let kernels = g.kernels.launches.flatMap { $0 }
        if fusion != .none { #expect(kernels.contains { $0.type.hasPrefix("FusionOp_") }) }
        // Every node that runs a kernel is a member of one; BatchNorm's split parts are two
        // (graph-kernel fusion may cluster them back into one).
        var count: [Int: Int] = [:]
        for k in kernels { for m in k.members { count[m, default: 0] += 1 } }
        for (m, c) in count {
            guard case .op(let op) = g.graph.nodes[m].kind else { Issue.record("\(m) is not an op"); continue }
            let split = fusion != .none && (op is BatchNormGrad || (op as? BatchNorm)?.isTraining == true)
            let expected = split ? (fusion == .graphKernel ? 1...2 : 2...2) : 1...1
            #expect(expected.contains(c), "\(g.graph.nodes[m].name): \(c) kernels \(kernels.filter { $0.members.contains(m) }.map(\.type))")
        }
    }
}
