import NPUDevice
import NPUTensor

/// Whether every element of every input is finite: a bool scalar (MindSpore's
/// `amp.all_finite`). A training step with loss scaling drops its update when it is false.
public struct AllFinite: OpDef, Equatable {
    public init() {}
    public var type: String { "AllFinite" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        guard !inputs.isEmpty else { throw OpError(type, "takes at least one tensor, got none") }
        for (k, t) in inputs.enumerated() where t.dtype != .float32 && t.dtype != .float16 {
            throw OpError(type, "input \(k) must be float32 or float16, got \(t.dtype)")
        }
        return [TensorType(.bool, [])]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        // Read in place: every gradient of the step passes here, every step.
        let finite = inputs.allSatisfy { t in
            t.withUnsafeBytes { raw in
                t.dtype == .float32 ? raw.bindMemory(to: Float.self).allSatisfy(\.isFinite) : raw.bindMemory(to: Float16.self).allSatisfy(\.isFinite)
            }
        }
        return [Tensor(scalar: finite)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        let n = inputs.reduce(0) { $0 + $1.shape.count }
        let bytes = inputs.reduce(0) { $0 + Double($1.shape.count * $1.dtype.size) } + 1
        return Work(flops: Double(n), bytes: bytes, unit: .vector, tiling: .elements(n))
    }

    static let info = OpInfo(type: "AllFinite", summary: "true when every element of every input is finite: bool scalar", hasBackward: false,
                             plannedReductions: []) {
        var bad = (try! sampleTensor([3, 4]).toArray(of: Float.self))
        bad[5] = .infinity
        return OpSample(AllFinite(), [sampleTensor([2, 3]), try! Tensor(shape: [3, 4], values: bad)], gradientInputs: []) { _ in [[0]] }
    }
}

/// One step of MindSpore's dynamic loss scale (`nn.DynamicLossScaleUpdateCell.construct`), on
/// the card: inputs the scale (float32 scalar), the step counter and the last overflow step
/// (int32 scalars, MindSpore's `current_iterator_step` and `last_overflow_iterator_step`) and
/// whether the step's gradients were finite; outputs the three updated. On an overflow the scale
/// becomes max(scale · (1/factor), 1); after `window` steps since the last overflow (or
/// increase) without one, scale · factor. All in float32 and int32 as MindSpore computes them.
public struct DynamicLossScaleUpdate: OpDef, Equatable {
    public let factor: Float
    public let window: Int32

    public init(factor: Float, window: Int32) {
        self.factor = factor
        self.window = window
    }

    public var type: String { "DynamicLossScaleUpdate" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 4)
        let expected = [TensorType(.float32, []), TensorType(.int32, []), TensorType(.int32, []), TensorType(.bool, [])]
        let names = ["scale", "current step", "last overflow step", "finite"]
        for k in 0..<4 where inputs[k] != expected[k] {
            throw OpError(type, "\(names[k]) must be a \(expected[k].dtype) scalar, got \(inputs[k])")
        }
        return Array(expected.prefix(3))
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let scale = try! inputs[0].toArray(of: Float.self)[0]
        let current = try! inputs[1].toArray(of: Int32.self)[0], last = try! inputs[2].toArray(of: Int32.self)[0]
        let overflow = inputs[3].doubles()[0] == 0
        let r = Self.next(scale: scale, current: current, lastOverflow: last, overflow: overflow, factor: factor, window: window)
        return [Tensor(scalar: r.scale), Tensor(scalar: r.current), Tensor(scalar: r.lastOverflow)]
    }

    /// The cell's arithmetic on host values (what `forward` computes).
    public static func next(scale: Float, current: Int32, lastOverflow: Int32, overflow: Bool, factor: Float, window: Int32)
        -> (scale: Float, current: Int32, lastOverflow: Int32)
    {
        let reduced = overflow ? max(scale * (1 / factor), 1) : scale
        let increase = window <= current &- lastOverflow
        let last = overflow || increase ? current : lastOverflow
        return (increase && !overflow ? reduced * factor : reduced, current &+ 1, last)
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        Work(flops: 8, bytes: 25, unit: .vector, tiling: .elements(1))
    }

    static let info = OpInfo(type: "DynamicLossScaleUpdate", summary: "one step of MindSpore's dynamic loss scale (scale, step, last overflow step)",
                             hasBackward: false, plannedReductions: []) {
        // An overflow at step 5 with the last at 2: the scale 1000 becomes max(1000 · (1/3), 1).
        OpSample(DynamicLossScaleUpdate(factor: 3, window: 3),
                 [Tensor(scalar: Float(1000)), Tensor(scalar: Int32(5)), Tensor(scalar: Int32(2)), Tensor(scalar: false)],
                 gradientInputs: []) { _ in [[Double(Float(1000) * (1 / Float(3)))], [6], [5]] }
    }
}
