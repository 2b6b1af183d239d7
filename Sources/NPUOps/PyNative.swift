import NPUDevice
import NPURandom
import NPUTensor

/// PyNative execution: every op runs at once, on the host, and is launched as a kernel task on
/// the card's default stream so the scheduler gives it simulated time. Reading a value
/// synchronises the card (the host waits, in simulated time, for the work behind it).
public final class PyNative {
    public let device: Device
    public let planner: ReductionPlanner
    /// MindSpore's seed state for random ops.
    public let seeds: SeedState
    /// Scratch memory every launch reuses.
    public let workspace = Workspace()
    /// Names every launch as graph mode names its nodes (`fc1/MatMul`): the op's identity in the
    /// program, which keys its reduction orders.
    public var namer = OpNamer()
    /// The random kernels a program's ops kept between launches, by op instance name (Dropout's,
    /// which a checkpoint saves), and states to give a kernel when its op first runs (a resume).
    public private(set) var kernels: [String: RandomKernel] = [:]
    public var pendingStates: [String: [UInt64]] = [:]

    public init(device: Device, determinism: Determinism = .off, orderSource: OrderSource = .entropy, seeds: SeedState = SeedState()) {
        self.device = device
        planner = ReductionPlanner(spec: device.spec, policy: determinism, source: orderSource, card: device.ordinal)
        self.seeds = seeds
    }

    /// Starts step `step` of a program run op by op: names count afresh and reduction orders are
    /// keyed by this step, as a compiled graph's are.
    public func beginStep(_ step: Int) {
        namer.reset()
        planner.step = step
    }

    /// Runs `op` on `inputs`: checks types, computes the outputs, launches the kernel. `name` is
    /// the op instance's name in the program; by default the next name for its type in the
    /// current scope.
    /// - Throws: `OpError` naming the op and what was wrong with the inputs.
    @discardableResult
    public func run(_ op: any OpDef, _ inputs: [Tensor], name: String? = nil) throws(OpError) -> [Tensor] {
        let inTypes = inputs.map(\.type)
        let outTypes = try op.infer(inTypes)
        let instance = name ?? namer.name(op.type)
        // (The metatype test first: a dynamic cast per op costs more than the rest of the dispatch.)
        if type(of: op) == Dropout.self, let dropout = op as? Dropout, kernels[instance] !== dropout.kernel {
            kernels[instance] = dropout.kernel
            if let state = pendingStates.removeValue(forKey: instance) { dropout.kernel.restore(state) }
        }
        // The host dispatches every op (type inference, kernel selection, the launch call).
        device.hostWork("Dispatch", instance, duration: device.spec.host.dispatch)
        planner.enter(op: instance)
        let outputs = try op.forward(inputs, KernelContext(planner: planner, workspace: workspace))
        precondition(outputs.count == outTypes.count && zip(outputs, outTypes).allSatisfy { $0.type == $1 },
                     "\(op.type) produced \(outputs.map(\.type)), inferred \(outTypes)")
        if op.launchesKernel {
            // The outputs live in HBM until their tensors die; a launch that does not fit fails on
            // the card and the host hears of it at the next read.
            for out in outputs where out.storage.deviceLease == nil && out.byteCount > 0 {
                do {
                    out.storage.deviceLease = try device.lease(Int64(out.storage.byteCount), for: "\(instance) output")
                } catch {
                    device.noteFailure(error)
                }
            }
            device.defaultStream.launch(instance, type: op.type, work: planner.charged(op.work(inTypes, outTypes), op.reductionSites(inTypes, outTypes), op: op.type))
        }
        return outputs
    }

    /// A value read by the host: synchronises the card first.
    /// - Throws: `DeviceError.outOfMemory` naming the first launch since the last read that did
    ///   not fit in HBM (its output or its workspace).
    public func read(_ tensor: Tensor) throws(DeviceError) -> Tensor {
        try device.checkedSynchronize()
        return tensor
    }

    /// The gradients of `op`'s inputs for output gradients `grads`, computed eagerly with the
    /// op's backward rule.
    public func gradients(_ op: any OpDef, inputs: [Tensor], outputs: [Tensor], grads: [Tensor]) throws(OpError) -> [Tensor?] {
        var builder = EagerBuilder(context: self)
        return try op.backward(&builder, inputs, outputs, grads)
    }
}

/// The PyNative `GradBuilder`: values are tensors, each op runs at once.
public struct EagerBuilder: GradBuilder {
    public let context: PyNative

    public mutating func apply(_ op: any OpDef, _ inputs: [Tensor]) throws(OpError) -> [Tensor] {
        try context.run(op, inputs)
    }

    public func type(of value: Tensor) -> TensorType { value.type }

    public mutating func constant(_ tensor: Tensor) -> Tensor { tensor }

    public mutating func pushScope(_ name: String) { context.namer.push(name) }
    public mutating func popScope() { context.namer.pop() }
}
