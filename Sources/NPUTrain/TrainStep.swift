import NPUDevice
import NPUGraph
import NPUOps
import NPURandom
import NPUTensor

/// MindSpore's execution modes.
public enum ExecutionMode: String, Sendable, CaseIterable {
    /// The whole step compiled once into a graph and run as tasks every step.
    case graph
    /// Op by op, at once.
    case pynative
}

/// One training step (MindSpore's WithLossCell + TrainOneStepCell): forward, loss, gradients,
/// optimizer update. Graph mode builds and compiles the step once; PyNative runs it op by op on a
/// tape. Both use the same layers, ops and reverse mode, so under `on` and `strict` they give the
/// same bits.
public final class TrainStep {
    public let mode: ExecutionMode
    public let network: any Layer
    public let loss: any Loss
    public let optimizer: any Optimizer
    public let store: ParameterStore
    public let device: Device
    public let ampLevel: AmpLevel
    /// The static loss scale: the backward starts from it and the gradients are divided by it
    /// before the optimizer (MindSpore's FixedLossScaleManager).
    public let lossScale: Float
    private var compiled: CompiledGraph?
    private let pynative: PyNative?
    /// PyNative: one tape, cleared at the start of every step.
    private let tape: Tape?
    /// Steps run so far (the step that keys reduction orders).
    public private(set) var steps = 0

    /// The reduction planner every launch of the step goes through (its policy, recorded plans).
    public var planner: ReductionPlanner { compiled?.context.planner ?? pynative!.planner }

    /// Graph mode: the pool that recycles each step's tensors.
    public var storagePool: StoragePool? { compiled?.pool }

    /// - Parameters: inputType and labelType: one batch's types (graph mode compiles for them).
    /// - Throws: `TrainError`/`GraphError`/`OpError` naming what does not fit.
    public init(network: any Layer, loss: any Loss, optimizer: any Optimizer, mode: ExecutionMode, device: Device, store: ParameterStore,
                determinism: Determinism = .off, orderSource: OrderSource = .entropy, ampLevel: AmpLevel = .O0, lossScale: Float? = nil,
                inputType: TensorType, labelType: TensorType) throws {
        (self.network, self.loss, self.optimizer, self.mode, self.device, self.store) = (network, loss, optimizer, mode, device, store)
        self.ampLevel = ampLevel
        self.lossScale = lossScale ?? (ampLevel == .O2 ? 1024 : 1)
        guard self.lossScale > 0, self.lossScale.isFinite else { throw TrainError("loss scale must be positive, got \(self.lossScale)") }
        switch mode {
        case .pynative:
            let context = PyNative(device: device, determinism: determinism, orderSource: orderSource)
            pynative = context
            tape = Tape(context: context)
        case .graph:
            pynative = nil
            tape = nil
            var b = GraphModel(isTraining: true, ampLevel: ampLevel)
            let x = b.graph.input("data", inputType), y = b.graph.input("label", labelType)
            let logits = try network(&b, x)
            let l = try loss(&b, logits, y)
            let params = optimizer.parameters.map { b.read($0) }
            let grads = try b.graph.gradients(of: l, wrt: params, lossScale: self.lossScale)
            try optimizer.update(&b, gradients: try Self.unscale(&b, try Self.require(grads, optimizer.parameters), self.lossScale))
            compiled = try CompiledGraph(b.graph, fetches: [l], device: device, store: store,
                                         planner: ReductionPlanner(spec: device.spec, policy: determinism, source: orderSource, card: device.ordinal))
        }
    }

    /// Gradients divided by the loss scale (nothing to do at scale 1).
    static func unscale<B: ModelBuilder>(_ b: inout B, _ grads: [B.Value], _ scale: Float) throws -> [B.Value] {
        guard scale != 1 else { return grads }
        let inverse = b.scalarConstant(1 / scale)
        return try grads.map { try b.op(Mul(), [$0, inverse]) }
    }

    static func require<V>(_ grads: [V?], _ params: [Parameter]) throws -> [V] {
        try zip(grads, params).map { g, p in
            guard let g else { throw TrainError("the loss does not depend on parameter '\(p.name)'") }
            return g
        }
    }

    /// Runs one step on a batch; returns the loss (the host reads it: the card synchronises).
    public func callAsFunction(_ data: Tensor, _ labels: Tensor) throws -> Tensor {
        defer { steps += 1 }
        if let compiled {
            let out = try compiled.step(["data": data, "label": labels])
            device.synchronize()
            return out[0]
        }
        let tape = self.tape!
        tape.reset()
        pynative!.beginStep(steps)
        var b = TapeModel(tape: tape, store: store, isTraining: true, ampLevel: ampLevel)
        let x = tape.watch(data), y = tape.watch(labels)
        let logits = try network(&b, x)
        let l = try loss(&b, logits, y)
        let params = try optimizer.parameters.map { try b.read($0) }
        let grads = try tape.gradients(of: l, wrt: params, lossScale: lossScale)
        let unscaled = try Self.unscale(&b, try Self.require(grads, optimizer.parameters).map { tape.watch($0) }, lossScale)
        try optimizer.update(&b, gradients: unscaled)
        for (name, value) in b.writes { store[name] = value }
        return try pynative!.read(l.tensor)
    }
}
