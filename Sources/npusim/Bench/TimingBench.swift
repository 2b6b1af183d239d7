import Foundation
import NPUSim

/// ResNet-50's bottleneck block: 1×1 → 3×3 (stride) → 1×1 convolutions with BatchNorm and ReLU,
/// plus the shortcut (a strided 1×1 convolution and BatchNorm when the shape changes).
final class Bottleneck: Layer {
    let main: SequentialCell
    let shortcut: SequentialCell?
    init(_ inChannels: Int, _ width: Int, stride: Int, name: String, _ ctx: LayerContext) throws {
        let out = 4 * width
        main = SequentialCell([
            try Conv2d(inChannels, width, kernel: 1, name: "\(name).conv1", ctx), try BatchNorm2d(width, name: "\(name).bn1", ctx), OpLayer.relu(),
            try Conv2d(width, width, kernel: 3, stride: stride, name: "\(name).conv2", ctx), try BatchNorm2d(width, name: "\(name).bn2", ctx),
            OpLayer.relu(),
            try Conv2d(width, out, kernel: 1, name: "\(name).conv3", ctx), try BatchNorm2d(out, name: "\(name).bn3", ctx),
        ])
        shortcut = stride != 1 || inChannels != out
            ? SequentialCell([try Conv2d(inChannels, out, kernel: 1, stride: stride, name: "\(name).down", ctx), try BatchNorm2d(out, name: "\(name).down_bn", ctx)])
            : nil
    }
    var parameters: [Parameter] { main.parameters + (shortcut?.parameters ?? []) }
    func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        let y = try main(&b, x)
        let s = try shortcut.map { try $0(&b, x) } ?? x
        return try b.op(ReLU(), [try b.op(Add(), [y, s])])
    }
}

/// ResNet-50 for 224×224 inputs and 1000 classes (MindSpore model zoo's layout).
func resnet50(_ ctx: LayerContext) throws -> SequentialCell {
    var layers: [any Layer] = [try Conv2d(3, 64, kernel: 7, stride: 2, name: "conv1", ctx), try BatchNorm2d(64, name: "bn1", ctx), OpLayer.relu(),
                               OpLayer.maxPool2d(kernel: 3, stride: 2, padMode: .same)]
    var channels = 64
    for (stage, (width, blocks, stride)) in [(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)].enumerated() {
        for k in 0..<blocks {
            layers.append(try Bottleneck(channels, width, stride: k == 0 ? stride : 1, name: "layer\(stage + 1).\(k)", ctx))
            channels = 4 * width
        }
    }
    layers += [OpLayer.avgPool2d(kernel: 7, stride: 1), Flatten(), try Dense(2048, 1000, name: "end_point", ctx)]
    return SequentialCell(layers)
}

/// A timing-only ResNet-50 training step (O2, Momentum, `batch` per card) on `device`, one of
/// `cards` data-parallel cards.
func resnet50TimingStep(device: Device, cards: Int, batch: Int = 256) throws -> TrainStep {
    let seeds = SeedState()
    try seeds.setSeed(1)
    let ctx = LayerContext(store: ParameterStore(shapeOnly: true), seeds: seeds)
    let net = try resnet50(ctx)
    return try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                         inputs: ["data": TensorType(.float32, [batch, 3, 224, 224]), "label": TensorType(.int32, [batch])],
                         optimizer: try Momentum(net.parameters, learningRate: 0.1, momentum: 0.9, ctx), mode: .graph, device: device,
                         store: ctx.store, configuration: StepConfiguration(ampLevel: .O2, timingOnly: true, cards: cards))
}

/// Timing-only simulation of one ResNet-50 training step (batch 256, O2, Momentum: the zoo's
/// configuration) on ascend910: host ms to build and compile the graph, and to schedule one step
/// through the streams and cost model without values; the simulated step time for reference.
let timingOnlyBenchmark = Benchmark(name: "timing-only", summary: "ResNet-50 step (batch 256, O2) simulated without values on 1 and 256 cards, host ms") {
    var compile: [Double] = [], schedule: [Double] = [], simulated: [Double] = []
    for _ in 0..<5 {
        var step: TrainStep!
        compile.append(try wallSecondsThrowing { step = try resnet50TimingStep(device: Device(spec: .ascend910), cards: 1) } * 1e3)
        let before = step.device.hostTime
        var end = SimTime.zero
        schedule.append(try wallSecondsThrowing { end = try step.simulate(steps: 1) } * 1e3)
        simulated.append((end - before).microseconds / 1e3)
    }
    // 256 cards (32 servers of 8): build, compile and schedule one step of every card.
    var cluster: [Double] = [], clusterSimulated: [Double] = []
    for _ in 0..<3 {
        var end = SimTime.zero
        cluster.append(try wallSecondsThrowing {
            let c = try Cluster(spec: .ascend910, cards: 256)
            let dp = try DataParallelStep(cluster: c, timingOnlyPrototype: { d in try resnet50TimingStep(device: d, cards: 256) })
            end = try dp.simulate(steps: 1)
        } * 1e3)
        clusterSimulated.append(end.microseconds / 1e3)
    }
    // CLI.md's cases: the host time to simulate one step from nothing (build, compile, schedule).
    return [BenchFigure(bench: "timing-only", caseName: "resnet50-256cards", unit: "ms", values: cluster),
            BenchFigure(bench: "timing-only", caseName: "resnet50-256cards-simulated", unit: "sim ms", values: clusterSimulated),BenchFigure(bench: "timing-only", caseName: "resnet50-1card", unit: "ms", values: zip(compile, schedule).map { $0 + $1 }),
            BenchFigure(bench: "timing-only", caseName: "resnet50-1card-compile", unit: "ms", values: compile),
            BenchFigure(bench: "timing-only", caseName: "resnet50-1card-schedule", unit: "ms", values: schedule),
            BenchFigure(bench: "timing-only", caseName: "resnet50-1card-simulated", unit: "sim ms", values: simulated)]
}

/// Wall seconds of a throwing body.
func wallSecondsThrowing(_ body: () throws -> Void) throws -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}
