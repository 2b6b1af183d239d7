import NPUDevice
import NPUGraph
import NPUTensor

/// Data-parallel training (MindSpore's ParallelMode.DATA_PARALLEL with gradients_mean): every card
/// of a cluster runs the same compiled step on its own shard, with its own parameter store,
/// reduction planner (orders keyed by card) and random state; gradients are averaged across the
/// cards by a collective on each card's communication stream, so every card applies the same
/// update and the parameters stay identical. BatchNorm statistics stay per card.
public final class DataParallelStep {
    public let cluster: Cluster
    /// Card k's step, in card order.
    public let replicas: [TrainStep]
    private let runner: ClusterStep

    /// `replica(k, device)` builds card k's `TrainStep` on `device` in graph mode with
    /// `StepConfiguration.cards` equal to the cluster's size; build every card from the same seed
    /// so that the initial parameters agree, as MindSpore's broadcast makes them.
    /// - Throws: `TrainError` for a replica that does not fit; `GraphError` from compiling.
    /// - Parameter exchange: set when other processes compute some cards (`CardExchange`):
    ///   the others' steps become ghosts here, and `replica` may build them without values
    ///   worth computing (they are never computed).
    public init(cluster: Cluster, exchange: (any CardExchange)? = nil, replica: (Int, Device) throws -> TrainStep) throws {
        let steps = try cluster.devices.enumerated().map { k, d in try replica(k, d) }
        for (k, s) in steps.enumerated() {
            guard s.device === cluster.devices[k] else { throw TrainError("replica \(k) runs on \(s.device.label), not on card \(k)") }
            // A timing-only cluster may simulate some of its cards (`Cluster(spec:ordinals:)`).
            let cards = s.configuration.cards, simulated = cluster.devices.count
            guard s.compiled != nil, cards == simulated || (s.configuration.timingOnly && cards > simulated) else {
                throw TrainError("replica \(k) must be a graph-mode step built for \(cluster.devices.count) cards (StepConfiguration.cards)")
            }
        }
        self.cluster = cluster
        replicas = steps
        runner = try ClusterStep(cluster: cluster, graphs: steps.map { $0.compiled! }, exchange: exchange)
    }

    /// A timing-only cluster: card 0's step is built by `prototype` (timing-only, graph mode,
    /// `StepConfiguration.cards` equal to the cluster's size, or larger when the cluster holds
    /// only the simulated cards of an alike cluster) and every other card runs a replica of it
    /// (`TrainStep.timingReplica(on:)`), so the step is compiled once, not once per card.
    public convenience init(cluster: Cluster, timingOnlyPrototype prototype: (Device) throws -> TrainStep) throws {
        let first = try prototype(cluster.devices[0])
        guard first.configuration.timingOnly else { throw TrainError("init(cluster:timingOnlyPrototype:) needs a timing-only step") }
        try self.init(cluster: cluster) { k, d in k == 0 ? first : try first.timingReplica(on: d) }
    }

    /// One step on every card: `shards[k]` are card k's inputs. Returns every card's loss (the
    /// host reads them: the cluster synchronises).
    public func callAsFunction(_ shards: [[String: Tensor]]) throws -> [Tensor] {
        guard !replicas[0].configuration.timingOnly else { throw TrainError("a timing-only step computes no loss; run it with simulate(steps:)") }
        let out = try runner.step(shards)
        cluster.synchronize()
        return out.map { $0[0] }
    }

    /// Dataset sink mode on every card: `batches[k]` are card k's batches (one per step) on its
    /// device data queue, run without a host synchronisation between steps. Returns every card's
    /// loss of the last step and, with `keepHidden`, every card's loss of every step.
    public func sink(_ batches: [[[String: Tensor]]], keepHidden: Bool = false) throws -> (losses: [Tensor], perStep: [[Tensor]]) {
        guard !replicas[0].configuration.timingOnly else { throw TrainError("a timing-only step computes no loss; run it with simulate(steps:)") }
        let out = try runner.sink(batches, keepHidden: keepHidden)
        for (k, r) in replicas.enumerated() { r.advance(steps: batches[k].count) }
        cluster.synchronize()
        return (out.last.map { $0[0] }, out.perStep.map { $0.map { $0[0] } })
    }

    /// Dataset sink mode on every card, `n` steps, with card k's batches drawn by `next(k)` as its
    /// data queue has room (each queue holds at most its capacity).
    public func sink(steps n: Int, keepHidden: Bool = false, next: (Int) throws -> [String: Tensor]) throws -> (losses: [Tensor], perStep: [[Tensor]]) {
        guard !replicas[0].configuration.timingOnly else { throw TrainError("a timing-only step computes no loss; run it with simulate(steps:)") }
        let out = try runner.sink(steps: n, keepHidden: keepHidden, next: next)
        for r in replicas { r.advance(steps: n) }
        cluster.synchronize()
        return (out.last.map { $0[0] }, out.perStep.map { $0.map { $0[0] } })
    }

    /// Timing-only: `n` steps on every card through the streams, links and cost model, no values
    /// (replicas built with `StepConfiguration(timingOnly: true)`), launched step by step or, with
    /// `sinkSize`, in sinks. Returns the cluster's latest host time.
    /// - Throws: `TrainError` unless the replicas are timing-only.
    @discardableResult
    public func simulate(steps n: Int, sinkSize: Int? = nil) throws -> SimTime {
        guard replicas[0].configuration.timingOnly else { throw TrainError("simulate(steps:) needs replicas built with StepConfiguration(timingOnly: true)") }
        var end = SimTime.zero
        if let sinkSize {
            // Dataset sink mode on every card: sinks of `sinkSize` steps (the last one shorter).
            guard sinkSize >= 1 else { throw TrainError("a sink runs at least 1 step, got \(sinkSize)") }
            var done = 0
            while done < n {
                let k = min(sinkSize, n - done)
                try runner.simulateSink(steps: k, types: replicas[0].inputs)
                for r in replicas { r.advance(steps: k) }
                end = cluster.synchronize()
                done += k
            }
            return end
        }
        for _ in 0..<n {
            _ = try runner.step(Array(repeating: [:], count: replicas.count))
            end = cluster.synchronize()
        }
        return end
    }
}
