import NPUDevice
import NPUKernels
import NPUTensor

/// Max pooling of an NCHW tensor (the first maximum in window order wins ties).
public struct MaxPool2D: OpDef, Equatable {
    public let kernel: (Int, Int)
    public let stride: (Int, Int)
    public let padMode: PadMode
    public init(kernel: (Int, Int), stride: (Int, Int), padMode: PadMode = .valid) {
        self.kernel = kernel
        self.stride = stride
        self.padMode = padMode
    }
    public var type: String { "MaxPool" }
    public static func == (a: Self, b: Self) -> Bool { a.kernel == b.kernel && a.stride == b.stride && a.padMode == b.padMode }

    func geometry(_ x: Shape) throws(OpError) -> WindowGeometry {
        guard x.rank == 4 else { throw OpError(type, "input must be NCHW (rank 4), got \(x)") }
        return try WindowGeometry(op: type, channels: 1, height: x[2], width: x[3], kernel: kernel, stride: stride, dilation: (1, 1), pad: padMode)
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        try expectFloat(inputs, 0, "input")
        let g = try geometry(inputs[0].shape)
        return [TensorType(.float32, [inputs[0].shape[0], inputs[0].shape[1], g.outHeight, g.outWidth])]
    }

    /// Output and argmax offsets.
    func pool(_ x: Tensor) throws(OpError) -> (Tensor, [Int32]) {
        var g = try geometry(x.shape)
        let planes = x.shape[0] * x.shape[1]
        var y = Tensor(zeros: [x.shape[0], x.shape[1], g.outHeight, g.outWidth])
        var argmax = [Int32](repeating: 0, count: y.count)
        y.withMutableFloats { yp in x.withFloats { npu_maxpool_f32(yp, &argmax, $0, &g.window, Int32(planes)) } }
        return (y, argmax)
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] { [try pool(inputs[0]).0] }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(MaxPoolGrad(kernel: kernel, stride: stride, padMode: padMode), [x[0], g[0]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        // A window is clipped to the input: the taps that land inside it, never more.
        let s = inputs[0].shape
        let taps = s.rank == 4 ? min(kernel.0, s[2]) * min(kernel.1, s[3]) : kernel.0 * kernel.1
        return elementwiseWork(inputs, outputs, flopsPerElement: Double(taps))
    }

    static let info = OpInfo(type: "MaxPool", summary: "2-D max pooling", hasBackward: true, plannedReductions: []) {
        OpSample(MaxPool2D(kernel: (2, 2), stride: (2, 2)), [sampleTensor([1, 2, 4, 4])]) { i in
            [(0..<8).map { k in
                let (p, oi, oj) = (k / 4, (k / 2) % 2, k % 2)
                return [0, 1, 4, 5].map { d in i[0][p * 16 + (oi * 2 + d / 4) * 4 + oj * 2 + d % 4] }.max()!
            }]
        }
    }
}

/// MaxPool's backward: dy to each window's first maximum. Inputs x, dy.
public struct MaxPoolGrad: OpDef, Equatable {
    public let kernel: (Int, Int)
    public let stride: (Int, Int)
    public let padMode: PadMode
    public init(kernel: (Int, Int), stride: (Int, Int), padMode: PadMode) {
        self.kernel = kernel
        self.stride = stride
        self.padMode = padMode
    }
    public var type: String { "MaxPoolGrad" }
    public static func == (a: Self, b: Self) -> Bool { a.kernel == b.kernel && a.stride == b.stride && a.padMode == b.padMode }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        let y = try MaxPool2D(kernel: kernel, stride: stride, padMode: padMode).infer([inputs[0]])[0]
        guard inputs[1] == y else { throw OpError(type, "dy must be \(y), got \(inputs[1])") }
        return [inputs[0]]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[0], dy = inputs[1]
        var g = try MaxPool2D(kernel: kernel, stride: stride, padMode: padMode).geometry(x.shape)
        let planes = x.shape[0] * x.shape[1]
        let scratch = ctx.workspace.floats(2 * planes * g.outHeight * g.outWidth)  // the pooled values and their argmax
        var dx = Tensor(zeros: x.shape)
        dx.withMutableFloats { out in x.withFloats { xp in dy.withFloats { npu_maxpool_grad_f32(out, xp, $0, &g.window, Int32(planes), scratch) } } }
        return [dx]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "MaxPoolGrad", summary: "MaxPool's backward", hasBackward: false, plannedReductions: []) {
        let x = try! Tensor(shape: [1, 1, 2, 2], values: [Float(1), 4, 3, 2])
        return OpSample(MaxPoolGrad(kernel: (2, 2), stride: (2, 2), padMode: .valid), [x, try! Tensor(shape: [1, 1, 1, 1], values: [Float(5)])],
                        gradientInputs: []) { _ in [[0, 5, 0, 0]] }
    }
}
