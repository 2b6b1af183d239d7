import Foundation
import NPUCollective
import NPUData
import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor
import NPUTrain

extension ScriptRunner {
    /// Timing-only: `steps` host-launched steps of the script's network on its cards through the
    /// streams, scheduler and cost model, on shapes alone — no parameter values, no data values, no
    /// numerics — with every task recorded (`RunSummary.devices`), for models and clusters too big
    /// to compute. The batch shape is the dataset's.
    ///
    /// `simulating` names the cards to simulate of a cluster (nil: all): every card of a
    /// timing-only cluster runs the same step on a shard of the same shape and the collectives
    /// are costed for the whole cluster; only card 0's host differs (it prints the loss lines).
    /// So every card but card 0 has the same timeline, whether its peers are simulated or not
    /// (tested), and a cluster of thousands of cards costs what its named cards do. Card 0 and
    /// one other card are always simulated.
    /// - Throws: what building the network, the dataset or the step throws.
    public static func simulate(_ script: Script, _ options: RunOptions = RunOptions(), steps: Int, simulating: Set<Int>? = nil) throws -> RunSummary {
        let started = DispatchTime.now().uptimeNanoseconds
        let builder = Builder(script: script)
        let spec = try deviceSpec(script, options), cards = options.cards ?? script.context.cards
        let dataset = try builder.dataset()
        let sample = try dataset.sampleType()
        let inputs = ["data": TensorType(sample.dtype, Shape([dataset.batchSize] + sample.shape.dims)), "label": TensorType(.int32, [dataset.batchSize])]
        var configuration = StepConfiguration(determinism: options.determinism ?? script.context.determinism, ampLevel: script.context.ampLevel,
                                              recording: true, timingOnly: true, cards: cards)
        configuration.allReduceAlgorithm = script.context.allReduceAlgorithm.flatMap(AllReduceAlgorithm.init(rawValue:))
        configuration.fusionSplits = script.context.fusionSplits
        configuration.kernelFusion = script.context.kernelFusion
        configuration.lossScaling = try builder.lossScaleManager()?.scaling
        func replica(_ device: Device) throws -> TrainStep {
            let seeds = SeedState()
            let ctx = LayerContext(store: ParameterStore(shapeOnly: true), seeds: seeds)
            let net = try builder.network(ctx)
            return try TrainStep(model: NetworkWithLoss(network: net, loss: try builder.loss()), inputs: inputs,
                                 optimizer: try builder.optimizer(net.parameters, ctx), mode: .graph, device: device, store: ctx.store,
                                 configuration: configuration)
        }
        // Dataset sink mode as the run would: sinks of sink_size steps (−1: an epoch of this card's
        // shard); the host prints a loss line (a LossMonitor callback) where the run would.
        let perEpoch = try Self.shardBatches(dataset, cards: cards), sinkSize = Self.sinkSize(script, options) { perEpoch }
        let devices: [Device], advance: (Int) throws -> SimTime
        if cards > 1 {
            let named = simulating.map { asked -> [Int] in
                let named = asked.union([0]).filter { $0 < cards }
                return (named.count > 1 ? named : named.union([1])).sorted()
            }
            let cluster = try named.map { try Cluster(spec: spec, ordinals: $0) } ?? Cluster(spec: spec, cards: cards)
            for d in cluster.devices { d.timelineMode = .all }
            let parallel = try DataParallelStep(cluster: cluster, timingOnlyPrototype: replica)
            advance = { n in try parallel.simulate(steps: n, sinkSize: sinkSize == nil ? nil : n) }
            devices = cluster.devices
        } else {
            let device = Device(spec: spec)
            device.timelineMode = .all
            let step = try replica(device)
            advance = { n in try step.simulate(steps: n, sinkSize: sinkSize == nil ? nil : n) }
            devices = [device]
        }
        // LossMonitor's rule: a line once per_print_times steps have passed since the last.
        var done = 0, end = SimTime.zero, lastPrint = 0
        let every = script.train.printEvery ?? 0
        while done < steps {
            let n = sinkSize.map { min($0, steps - done) } ?? 1
            end = try advance(n)
            done += n
            if every != 0 && done - lastPrint >= every {
                lastPrint = done
                devices[0].hostCallback("LossMonitor")
                end = devices[0].hostTime
            }
        }
        return RunSummary(steps: steps, samples: steps * dataset.batchSize * cards,
                          hostSeconds: Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9, simulatedTime: end, losses: [], devices: devices,
                          cards: cards)
    }
}
