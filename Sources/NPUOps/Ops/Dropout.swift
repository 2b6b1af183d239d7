import NPUDevice
import NPURandom
import NPUTensor

/// Dropout with MindSpore's CPU kernel (NPURandom): outputs y = x·mask/keepProb and the mask.
/// It holds its kernel instance, so successive launches continue one random stream: a graph
/// call site or a `Dropout` layer keeps one op; a PyNative `ops.dropout` call makes a new one.
public struct Dropout: OpDef, Equatable, @unchecked Sendable {  // the kernel is used by one executor at a time
    public let keepProb: Float
    public let kernel: RandomKernel
    public init(keepProb: Float, kernel: RandomKernel) {
        precondition(kernel.kind == .dropout, "Dropout needs a Dropout kernel")
        self.keepProb = keepProb
        self.kernel = kernel
    }
    public var type: String { "Dropout" }
    /// The same op only with the same kernel instance: its random stream is part of what it computes.
    public static func == (a: Self, b: Self) -> Bool { a.keepProb == b.keepProb && a.kernel === b.kernel }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        try expectFloat(inputs, 0, "x")
        guard keepProb > 0, keepProb <= 1 else { throw OpError(type, "keep_prob must be in (0, 1], got \(keepProb)") }
        return [inputs[0], inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        do {
            let (y, mask) = try kernel.dropout(inputs[0], keepProb: keepProb)
            return [y, mask]
        } catch {
            throw OpError(type, error.description)
        }
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(DropoutGrad(keepProb: keepProb), [g[0], y[1]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 3) }

    static let info = OpInfo(type: "Dropout", summary: "dropout (MindSpore's CPU kernel, bit for bit); outputs y and the mask",
                             hasBackward: true, plannedReductions: []) {
        let seeds = SeedPair(seed: 5, seed2: 7, rule: .bothSeeds(call: 1))
        return OpSample(Dropout(keepProb: 0.75, kernel: RandomKernel(.dropout, seeds: seeds)), [sampleTensor([3, 4])]) { i in
            // The same seeds draw the same first mask.
            let mask = try! RandomKernel(.dropout, seeds: seeds).dropout(Tensor(zeros: [3, 4]), keepProb: 0.75).mask.doubles()
            return [zip(i[0], mask).map { Double(Float($0.0) * Float($0.1) * (1 / Float(0.75))) }, mask]
        }
    }
}

/// Dropout's backward: dy·mask/keepProb with the forward's mask. Inputs dy, mask.
public struct DropoutGrad: OpDef, Equatable {
    public let keepProb: Float
    public init(keepProb: Float) { self.keepProb = keepProb }
    public var type: String { "DropoutGrad" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        guard inputs[0] == inputs[1], inputs[0].dtype == .float32 else { throw OpError(type, "dy \(inputs[0]) and mask \(inputs[1]) must be float32 of one shape") }
        return [inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        do {
            return [try dropoutBackward(inputs[0], mask: inputs[1], keepProb: keepProb)]
        } catch {
            throw OpError(type, error.description)
        }
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 2) }

    static let info = OpInfo(type: "DropoutGrad", summary: "Dropout's backward (reuses the mask)", hasBackward: false, plannedReductions: []) {
        OpSample(DropoutGrad(keepProb: 0.5), [sampleTensor([4]), try! Tensor(shape: [4], values: [Float(1), 0, 0, 1])], gradientInputs: []) { i in
            [[i[0][0] * 2, 0, 0, i[0][3] * 2]]
        }
    }
}
