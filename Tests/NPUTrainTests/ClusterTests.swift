import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor
@testable import NPUTrain

/// A cluster: one event space and one scheduler over every card; lockstep data parallelism with
/// a test collective that averages gradients across cards.
@Suite struct ClusterTests {
    /// On the test profile a vector kernel of `flops` takes 1 µs launch + flops / 0.1 TFLOP/s.
    func kernel(_ flops: Double) -> Work { Work(flops: flops, bytes: 0, unit: .vector) }

    @Test func aCardWaitsForAnotherCardsEvent() throws {
        let cluster = try Cluster(spec: .test, cards: 3)
        let (a, b, c) = (cluster.devices[0], cluster.devices[1], cluster.devices[2])
        a.defaultStream.launch("slow", type: "K", work: kernel(400_000))   // 1 + 4 µs
        let done = a.defaultStream.record()
        b.defaultStream.launch("fast", type: "K", work: kernel(100_000))   // 1 + 1 µs
        b.defaultStream.wait(done)
        let after = b.defaultStream.launch("after", type: "K", work: kernel(100_000))
        let free = c.defaultStream.launch("free", type: "K", work: kernel(100_000))  // waits for nothing
        cluster.synchronize()
        #expect(done.device == 0 && a.record(of: after) == nil)
        #expect(b.record(of: after)?.start == .microseconds(5) && b.record(of: after)?.end == .microseconds(7))
        #expect(c.record(of: free)?.start == .zero && b.record(of: after)?.card == 1)
        #expect(throws: DeviceError.badCluster("a cluster has 1 to 4096 cards (64 with real numerics), got 4097")) { try Cluster(spec: .test, cards: 4097) }
    }

    func replica(_ k: Int, _ device: Device, cards: Int, timingOnly: Bool = false) throws -> TrainStep {
        let seeds = SeedState()
        try seeds.setSeed(1)  // the same seed on every card: the same initial parameters
        let ctx = LayerContext(store: ParameterStore(shapeOnly: timingOnly), seeds: seeds)
        let net = try mlp(ctx)
        return try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                             inputs: ["data": TensorType(.float32, [8, 784]), "label": TensorType(.int32, [8])],
                             optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx), mode: .graph, device: device,
                             store: ctx.store, configuration: StepConfiguration(determinism: .off, orderSource: .replay(4), timingOnly: timingOnly, cards: cards))
    }

    /// Card k's shard of global batch s: 8 of the 32 samples.
    func shard(_ s: Int, _ k: Int) -> [String: Tensor] {
        let (x, y) = batch(s, [32, 784], classes: 10)
        let xs = try! x.toArray(of: Float.self), ys = try! y.toArray(of: Int32.self)
        return ["data": try! Tensor(shape: [8, 784], values: Array(xs[(k * 8 * 784)..<((k + 1) * 8 * 784)])),
                "label": try! Tensor(shape: [8], values: Array(ys[(k * 8)..<((k + 1) * 8)]))]
    }

    @Test func fourCardsKeepIdenticalParametersAndTheirCollectivesWaitForEveryCard() throws {
        let cluster = try Cluster(spec: .ascend910, cards: 4)
        let dp = try DataParallelStep(cluster: cluster) { k, d in try replica(k, d, cards: 4) }
        var losses: [[UInt32]] = []
        for s in 0..<3 { losses.append(try dp((0..<4).map { shard(s, $0) }).map { try $0.toArray(of: Float.self)[0].bitPattern }) }
        let stores = dp.replicas.map { bits($0.store) }
        #expect(stores.allSatisfy { $0 == stores[0] }, "parameters differ across cards")
        #expect(Set(losses[0]).count > 1, "every card saw the same shard")
        let initial = try context()
        _ = try mlp(initial)
        #expect(stores[0]["fc1.weight"] != bits(initial.store)["fc1.weight"], "nothing was trained")
        // Each collective starts on every card only when the last card's compute reached it.
        for name in Set(cluster.devices[0].timeline.filter { $0.type == "AllReduce" }.map(\.name)) {
            let transfers = cluster.devices.map { d in d.timeline.last { $0.name == name && $0.type == "AllReduce" }! }
            let ready = cluster.devices.map { d in d.timeline.last { $0.streamName == "compute" && $0.type == "EventRecord" && $0.end <= transfers[0].start }!.end }
            #expect(transfers.allSatisfy { $0.streamName == "comm" && $0.engine == .linkSend })
            #expect(transfers.allSatisfy { $0.start >= ready.max()! })
        }
        // One card alone cannot run a multi-card collective.
        let lone = try replica(0, Device(spec: .test), cards: 4)
        #expect(throws: OpError.self) { _ = try lone(shard(0, 0)) }
    }

    /// A wait for an event of a device outside the cluster (or of another lone device) is an
    /// error at the next checked synchronisation, not a silent no-op or a trap.
    @Test func waitingForAnUnknownEventIsAnError() throws {
        let lone = Device(spec: .test), other = Device(spec: .test)
        let foreign = other.defaultStream.record()
        lone.defaultStream.wait(foreign)
        #expect(throws: DeviceError.unknownEvent("wait e0 on test:0 waits for event e0 of card 0, which is another device (make a Cluster to wait across cards)")) {
            try lone.checkedSynchronize()
        }
        let cluster = try Cluster(spec: .test, cards: 2)
        cluster.devices[1].defaultStream.wait(foreign)
        #expect(throws: DeviceError.self) { try cluster.devices[1].checkedSynchronize() }
        cluster.devices[0].defaultStream.record(foreign)
        #expect(throws: DeviceError.self) { try cluster.devices[0].checkedSynchronize() }
        #expect(throws: Never.self) { try cluster.devices[0].checkedSynchronize() }  // reported once
    }

    /// A collective spanning more cards than a server holds crosses RoCE, timed by its figures;
    /// within a server it crosses the on-board links.
    @Test func collectivesAcrossServersUseTheInterServerLinks() throws {
        for (perServer, link) in [(1, LinkType.interServer), (8, .onBoard), (8, .pcie)] {
            var spec = DeviceSpec.ascend910
            spec.cardsPerServer = perServer
            spec.boardLink = link == .pcie ? .pcie : .onBoard
            let cluster = try Cluster(spec: spec, cards: 2)
            let dp = try DataParallelStep(cluster: cluster) { k, d in try replica(k, d, cards: 2) }
            _ = try dp((0..<2).map { shard(0, $0) })
            // The MLP's gradients are one 64 MiB bucket: 101,770 floats; 2 cards move half of
            // them per hop (mesh within a server, the ring between single-card servers).
            let bytes = Double(101_770 * 4) / 2
            let hop = try #require(cluster.devices[1].timeline.first { $0.type == "AllReduce" && $0.kind.bytes > 0 })
            guard case .transfer(_, _, let used) = hop.kind else { Issue.record("not a transfer"); continue }
            #expect(used == link && hop.kind.bytes == bytes)
            let expected = switch link {
            case .interServer: spec.interServerLatency + .seconds(bytes / spec.interServerBandwidth)
            case .onBoard: spec.linkLatency + .seconds(bytes / spec.linkBandwidth)
            case .pcie: spec.hostLatency + .seconds(bytes / spec.hostBandwidth)
            }
            #expect(hop.duration == expected)
        }
    }

    /// A cluster simulated without values gives every card the timeline of a numeric run.
    @Test func timingOnlyClustersMatchNumericOnes() throws {
        let numeric = try Cluster(spec: .ascend910, cards: 2), timing = try Cluster(spec: .ascend910, cards: 2)
        let dp = try DataParallelStep(cluster: numeric) { k, d in try replica(k, d, cards: 2) }
        let sim = try DataParallelStep(cluster: timing) { k, d in try replica(k, d, cards: 2, timingOnly: true) }
        for s in 0..<2 { _ = try dp((0..<2).map { shard(s, $0) }) }
        try sim.simulate(steps: 2)
        for k in 0..<2 {
            func lanes(_ d: Device) -> [String] { d.timeline.map { "\($0.streamName) \($0.name) \($0.start) \($0.end)" } }
            #expect(lanes(timing.devices[k]) == lanes(numeric.devices[k]))
        }
        #expect(throws: TrainError.self) { _ = try sim([shard(0, 0), shard(0, 1)]) }
    }

    /// A timing-only cluster compiled once (every card a replica of card 0's step) gives every
    /// card the timeline of one compiled per card, numeric runs included.
    @Test func aClusterCompiledOnceMatchesOneCompiledPerCard() throws {
        let numeric = try Cluster(spec: .ascend910, cards: 3), shared = try Cluster(spec: .ascend910, cards: 3)
        let dp = try DataParallelStep(cluster: numeric) { k, d in try replica(k, d, cards: 3) }
        let sim = try DataParallelStep(cluster: shared, timingOnlyPrototype: { d in try replica(0, d, cards: 3, timingOnly: true) })
        for s in 0..<2 { _ = try dp((0..<3).map { shard(s, $0) }) }
        try sim.simulate(steps: 2)
        #expect(sim.replicas[1].compiled!.graph.nodes.count == sim.replicas[0].compiled!.graph.nodes.count)
        for k in 0..<3 {
            func lanes(_ d: Device) -> [String] { d.timeline.map { "\($0.card) \($0.streamName) \($0.name) \($0.start) \($0.end)" } }
            #expect(lanes(shared.devices[k]) == lanes(numeric.devices[k]) && !lanes(shared.devices[k]).isEmpty)
            #expect(sim.replicas[k].device === shared.devices[k])
        }
        // A numeric step cannot be replicated this way: its cards need their own values.
        #expect(throws: TrainError.self) { try dp.replicas[0].timingReplica(on: Device(spec: .ascend910)) }
    }

    /// The optimizer's update of AllReduced gradients gives every card the same bits, so card 0
    /// computes it and the others take its result (one copy of each parameter in memory, the same
    /// tasks on every card). A card whose parameter was changed on its own computes its own
    /// update: taking card 0's would have hidden the difference.
    @Test func cardsShareTheUpdateOfIdenticalParametersAndNotOfDifferentOnes() throws {
        let cluster = try Cluster(spec: .ascend910, cards: 4)
        let dp = try DataParallelStep(cluster: cluster) { k, d in try replica(k, d, cards: 4) }
        for s in 0..<2 { _ = try dp((0..<4).map { shard(s, $0) }) }
        let stores = dp.replicas.map(\.store)
        for name in stores[0].names {
            for k in 1..<4 { #expect(stores[k][name]!.sharesStorage(with: stores[0][name]!), "\(name) on card \(k)") }
        }
        #expect(Set(cluster.devices.map { $0.timeline.filter { $0.type == "ApplyMomentum" }.count }) == [8])  // 4 parameters × 2 steps on every card
        // Card 2's fc1.bias nudged by one ulp: from then on its update is its own.
        var bias = try stores[2]["fc1.bias"]!.toArray(of: Float.self)
        bias[0] = bias[0].nextUp
        stores[2]["fc1.bias"] = try Tensor(shape: [bias.count], values: bias)
        _ = try dp((0..<4).map { shard(2, $0) })
        let card0 = try stores[0]["fc1.bias"]!.toArray(of: Float.self), card2 = try stores[2]["fc1.bias"]!.toArray(of: Float.self)
        #expect(card2[0] != card0[0] && Array(card2.dropFirst()) == Array(card0.dropFirst()))
        #expect(!stores[2]["fc1.bias"]!.sharesStorage(with: stores[0]["fc1.bias"]!))
    }

    /// BatchNorm's moving statistics come from each card's own batch: they stay per card (as on
    /// cards without SyncBatchNorm) while the weights are shared.
    @Test func batchNormStatisticsStayPerCardWhileWeightsAreShared() throws {
        let cluster = try Cluster(spec: .ascend910, cards: 2)
        let dp = try DataParallelStep(cluster: cluster) { _, d in
            let seeds = SeedState()
            try seeds.setSeed(1)
            let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
            let net = SequentialCell([try Conv2d(1, 2, kernel: 3, name: "conv", ctx), try BatchNorm2d(2, name: "bn", ctx), Flatten(), try Dense(32, 3, name: "fc", ctx)])
            return try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                                 inputs: ["data": TensorType(.float32, [4, 1, 4, 4]), "label": TensorType(.int32, [4])],
                                 optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx), mode: .graph, device: d,
                                 store: ctx.store, configuration: StepConfiguration(determinism: .on, cards: 2))
        }
        let feeds = (0..<2).map { k in ["data": sampleTensor([4, 1, 4, 4], seed: UInt64(k + 1)), "label": try! Tensor(shape: [4], values: [Int32(0), 1, 2, Int32(k)])] }
        _ = try dp(feeds)
        let (a, b) = (dp.replicas[0].store, dp.replicas[1].store)
        for name in ["conv.weight", "bn.gamma", "bn.beta", "fc.weight", "fc.bias"] { #expect(b[name]!.sharesStorage(with: a[name]!), "\(name)") }
        for name in ["bn.moving_mean", "bn.moving_variance"] {
            #expect(!b[name]!.sharesStorage(with: a[name]!) && !b[name]!.hasSameBits(as: a[name]!), "\(name)")
        }
    }

    @Test func aOneCardClusterGivesTheBitsOfAPlainStep() throws {
        let cluster = try Cluster(spec: .ascend910, cards: 1)
        let dp = try DataParallelStep(cluster: cluster) { k, d in try replica(k, d, cards: 1) }
        let plain = try replica(0, Device(spec: .ascend910), cards: 1)
        for s in 0..<2 {
            let a = try dp([shard(s, 0)])[0], b = try plain(shard(s, 0))
            #expect(try a.toArray(of: Float.self).map(\.bitPattern) == b.toArray(of: Float.self).map(\.bitPattern))
        }
        #expect(bits(dp.replicas[0].store) == bits(plain.store))
    }
}

/// Data parallelism with the real AllReduce: the same parameters on every card under every policy,
/// the same training as one card with the global batch, buckets that overlap the backward pass,
/// and sinks on many cards.
@Suite struct DataParallelTests {
    /// The reference MLP on `cards` cards, each with a batch of 32 / cards.
    func step(cards: Int, _ k: Int, _ device: Device, _ policy: Determinism, _ configure: (inout StepConfiguration) -> Void = { _ in }) throws -> TrainStep {
        let seeds = SeedState()
        try seeds.setSeed(1)
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        let net = try mlp(ctx)
        var c = StepConfiguration(determinism: policy, orderSource: .replay(11), cards: cards)
        configure(&c)
        let b = 32 / cards
        return try TrainStep(model: NetworkWithLoss(network: net, loss: SoftmaxCrossEntropyLoss()),
                             inputs: ["data": TensorType(.float32, [b, 784]), "label": TensorType(.int32, [b])],
                             optimizer: try Momentum(net.parameters, learningRate: 0.01, momentum: 0.9, ctx), mode: .graph, device: device,
                             store: ctx.store, configuration: c)
    }

    /// Global batch s split into `cards` shards.
    func shards(_ s: Int, cards: Int) -> [[String: Tensor]] {
        let (x, y) = batch(s, [32, 784], classes: 10)
        let xs = try! x.toArray(of: Float.self), ys = try! y.toArray(of: Int32.self), b = 32 / cards
        return (0..<cards).map { k in
            ["data": try! Tensor(shape: [b, 784], values: Array(xs[(k * b * 784)..<((k + 1) * b * 784)])),
             "label": try! Tensor(shape: [b], values: Array(ys[(k * b)..<((k + 1) * b)]))]
        }
    }

    func train(cards: Int, _ policy: Determinism, steps: Int, lossScale: Float? = nil) throws -> [ParameterStore] {
        let configure = { (c: inout StepConfiguration) in c.lossScale = lossScale }
        if cards == 1 {
            let s = try step(cards: 1, 0, Device(spec: .ascend910), policy, configure)
            for i in 0..<steps { _ = try s(shards(i, cards: 1)[0]) }
            return [s.store]
        }
        let dp = try DataParallelStep(cluster: try Cluster(spec: .ascend910, cards: cards)) { k, d in try step(cards: cards, k, d, policy, configure) }
        for i in 0..<steps { _ = try dp(shards(i, cards: cards)) }
        return dp.replicas.map(\.store)
    }

    @Test(arguments: Determinism.allCases)
    func everyCardKeepsTheSameParametersForTwentySteps(policy: Determinism) throws {
        let stores = try train(cards: 4, policy, steps: 20).map(bits)
        #expect(stores.allSatisfy { $0 == stores[0] }, "parameters differ across cards under \(policy)")
    }

    /// 8 cards of batch 4 train as 1 card of batch 32: under `on` to 1e-6 relative after 20 steps.
    @Test func eightCardsTrainAsOneCardWithTheGlobalBatch() throws {
        let one = try train(cards: 1, .on, steps: 20)[0], eight = try train(cards: 8, .on, steps: 20)[0]
        for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"] {
            let a = try one[name]!.toArray(of: Float.self), b = try eight[name]!.toArray(of: Float.self)
            let scale = a.map { abs($0) }.max()!
            let worst = zip(a, b).map { abs($0 - $1) }.max()!
            #expect(worst <= 1e-6 * scale, "\(name): \(worst) against a largest value of \(scale)")
        }
    }

    /// Under `strict` the AllReduce adds every card's exact terms and rounds once: 8 cards of
    /// batch 4 and 2 cards of 16 give the bits 1 card of batch 32 gives, after 20 steps; with a
    /// loss scale too, whose unscale before the AllReduce once hid the MatMuls' exact terms.
    @Test(arguments: [(2, nil), (8, nil), (4, 1024)] as [(Int, Float?)])
    func strictCardsGiveTheOneCardBits(cards: Int, lossScale: Float?) throws {
        let one = bits(try train(cards: 1, .strict, steps: 20, lossScale: lossScale)[0])
        let many = bits(try train(cards: cards, .strict, steps: 20, lossScale: lossScale)[0])
        for name in ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias", "moments.fc1.weight"] {
            let same = one[name] == many[name]  // not the arrays themselves: a failure would print 100k numbers
            #expect(same, "\(name) differs on \(cards) cards")
        }
    }

    /// With a bucket per layer the first AllReduce (the last layer's gradients) starts on the
    /// communication stream before the backward pass has finished on the compute stream.
    @Test func bucketsOverlapTheBackwardPass() throws {
        let cluster = try Cluster(spec: .ascend910, cards: 2)
        let dp = try DataParallelStep(cluster: cluster) { k, d in try step(cards: 2, k, d, .on) { $0.fusionSplits = [2] } }
        _ = try dp(shards(0, cards: 2))
        let timeline = cluster.devices[0].timeline
        let reduces = timeline.filter { $0.type == "AllReduce" && $0.streamName == "comm" }
        #expect(Set(reduces.map(\.name)).count == 2, "two buckets: fc2's gradients, then fc1's")
        let lastBackward = try #require(timeline.last { $0.streamName == "compute" && $0.name.hasPrefix("Gradients/") })
        #expect(reduces.first!.start < lastBackward.end, "the first bucket did not overlap the backward pass")
    }

    /// A sink of 5 steps on 2 cards gives every step's losses as 5 host-fed steps do, with one
    /// sink launch per card.
    @Test func sinksRunOnManyCards() throws {
        let fed = try DataParallelStep(cluster: try Cluster(spec: .ascend910, cards: 2)) { k, d in try step(cards: 2, k, d, .on) }
        let plain = try (0..<5).map { i in try fed(shards(i, cards: 2)).map { try $0.toArray(of: Float.self)[0].bitPattern } }
        let cluster = try Cluster(spec: .ascend910, cards: 2)
        let sunk = try DataParallelStep(cluster: cluster) { k, d in try step(cards: 2, k, d, .on) }
        let perCard = (0..<2).map { k in (0..<5).map { i in shards(i, cards: 2)[k] } }
        let result = try sunk.sink(perCard, keepHidden: true)
        #expect(try result.perStep.map { try $0.map { try $0.toArray(of: Float.self)[0].bitPattern } } == plain)
        #expect(cluster.devices.allSatisfy { $0.hostEvents.filter { $0.type == "SinkLaunch" }.count == 1 && $0.hostEvents.filter { $0.type == "GraphLaunch" }.isEmpty })
        #expect(bits(sunk.replicas[0].store) == bits(fed.replicas[0].store) && bits(sunk.replicas[1].store) == bits(sunk.replicas[0].store))
    }
}
