import Foundation
import NPUSim

/// The reference MLP's step on `cards` cards with a global batch of 32 (32 / cards per card),
/// under `on`: one TrainStep, or a DataParallelStep with the real AllReduce.
func mlpDataParallel(cards: Int, perCard: Int? = nil) throws -> ([String: Tensor]) throws -> Void {
    let perCard = perCard ?? 32 / cards
    func replica(_ device: Device) throws -> TrainStep {
        let seeds = SeedState()
        try seeds.setSeed(1)
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let net = SequentialCell([try Dense(784, 128, name: "fc1", ctx), OpLayer.relu(), try Dense(128, 10, name: "fc2", ctx)])
        return try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                             inputs: ["data": TensorType(.float32, [perCard, 784]), "label": TensorType(.int32, [perCard])],
                             optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx), mode: .graph, device: device,
                             store: ctx.store, configuration: StepConfiguration(determinism: .on, cards: max(cards, 1)))
    }
    let x = sampleTensor([32, 784]), labels = (0..<32).map { Int32($0 % 10) }
    let xs = try x.toArray(of: Float.self)
    let shards = try (0..<max(cards, 32 / perCard)).map { k in
        ["data": try Tensor(shape: [perCard, 784], values: Array(xs[(k * perCard * 784)..<((k + 1) * perCard * 784)])),
         "label": try Tensor(shape: [perCard], values: Array(labels[(k * perCard)..<((k + 1) * perCard)]))]
    }
    if cards < 0 {
        // -cards replicas, each on a device of its own, stepping in turn with no collective: what
        // keeping N cards' state costs without the cluster.
        let steps = try (0..<(-cards)).map { _ in try replica(Device(spec: .ascend910)) }
        return { _ in for (k, s) in steps.enumerated() { _ = try s(shards[k]) } }
    }
    if cards == 1 {
        // One card: one step of the whole batch, or (perCard < 32) one step per shard in turn.
        let step = try replica(Device(spec: .ascend910))
        return { _ in for shard in shards { _ = try step(shard) } }
    }
    let dp = try DataParallelStep(cluster: try Cluster(spec: .ascend910, cards: cards)) { _, d in try replica(d) }
    return { _ in _ = try dp(shards) }
}

/// Simulated weak-scaling efficiency of ResNet-50 (batch 256 per card, O2, timing-only, as in
/// MindSpore's published benchmark): the 1-card step time over the N-card step time, in %.
func resnet50Scaling(cards: Int) throws -> Double {
    func step(_ k: Int, _ device: Device, _ cards: Int) throws -> TrainStep { try resnet50TimingStep(device: device, cards: cards) }
    let one = try step(0, Device(spec: .ascend910), 1)
    _ = try one.simulate(steps: 1)
    let before = one.device.hostTime
    let t1 = try one.simulate(steps: 1) - before
    let cluster = try Cluster(spec: .ascend910, cards: cards)
    let dp = try DataParallelStep(cluster: cluster, timingOnlyPrototype: { d in try step(0, d, cards) })
    let start = try dp.simulate(steps: 1)
    let tn = try dp.simulate(steps: 1) - start
    return t1.seconds / tn.seconds * 100
}

/// `allreduce`: host ms per MLP step on 1 card (batch 32) and on 8 cards (batch 4 each, the same
/// total work plus the collectives); and the cost model's weak-scaling efficiency for
/// ResNet-50-sized gradients on 8 and 16 cards.
let allReduceBenchmark = Benchmark(name: "allreduce", summary: "MLP step on 1 vs 8 cards (same total batch), host ms/step; simulated ResNet-50 scaling, %") {
    var figures: [BenchFigure] = []
    // cards-1: one card, batch 32; cards-1-x8-batch4: one card running the 8 cards' kernels (8
    // steps of batch 4); replicas-8-no-collective: 8 replicas on 8 devices in turn (8 cards'
    // state, no cluster, no AllReduce); cards-8: the data-parallel step.
    // The cases take turns (rounds of 50 steps each), so the ratio to the yardstick is taken on
    // the same machine state: `cards-8-vs-x8` is each round's cards-8 time over its
    // cards-1-x8-batch4 time (the target: at most 1.15).
    let cases = [("cards-1", try mlpDataParallel(cards: 1)), ("cards-1-x8-batch4", try mlpDataParallel(cards: 1, perCard: 4)),
                 ("cards-8", try mlpDataParallel(cards: 8)), ("replicas-8-no-collective", try mlpDataParallel(cards: -8, perCard: 4))]
    for (_, run) in cases { for _ in 0..<20 { try run([:]) } }
    var ms = [[Double]](repeating: [], count: cases.count)
    for _ in 0..<11 {
        for (k, (_, run)) in cases.enumerated() {
            let n = 50
            ms[k].append(try wallSecondsThrowing { for _ in 0..<n { try run([:]) } } / Double(n) * 1e3)
        }
    }
    for (k, (name, _)) in cases.enumerated() { figures.append(BenchFigure(bench: "allreduce", caseName: name, unit: "ms/step", values: ms[k])) }
    figures.append(BenchFigure(bench: "allreduce", caseName: "cards-8-vs-x8", unit: "ratio", values: zip(ms[2], ms[1]).map { $0 / $1 }))
    // The collective alone: the MLP's gradients (4 tensors, 101,770 floats) of 8 cards, fused.
    let shapes: [Shape] = [[128, 784], [128], [10, 128], [10]]
    let grads = (0..<8).map { k in shapes.map { sampleTensor($0, seed: UInt64(k)) } }
    for policy in [Determinism.on, .strict] {
        let planner = ReductionPlanner(spec: .ascend910, policy: policy)
        planner.enter(op: "AllReduce")
        let op = AllReduce(cards: 8, algorithm: .mesh, mean: true)
        var ms: [Double] = []
        for _ in 0..<9 { ms.append(try wallSecondsThrowing { for _ in 0..<10 { _ = try op.combine(grads, KernelContext(planner: planner)) } } / 10 * 1e3) }
        figures.append(BenchFigure(bench: "allreduce", caseName: "combine-8-\(policy.rawValue)", unit: "ms", values: ms))
    }
    for cards in [8, 16] {
        figures.append(BenchFigure(bench: "allreduce", caseName: "resnet50-scaling-\(cards)", unit: "% (simulated)", values: [try resnet50Scaling(cards: cards)]))
    }
    return figures
}
