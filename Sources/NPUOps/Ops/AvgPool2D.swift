import NPUDevice
import NPUKernels
import NPUTensor

/// Average pooling of an NCHW tensor over each window's valid (non-padding) elements.
public struct AvgPool2D: OpDef, Equatable {
    public let kernel: (Int, Int)
    public let stride: (Int, Int)
    public let padMode: PadMode
    public init(kernel: (Int, Int), stride: (Int, Int), padMode: PadMode = .valid) {
        (self.kernel, self.stride, self.padMode) = (kernel, stride, padMode)
    }
    public var type: String { "AvgPool" }
    public static func == (a: Self, b: Self) -> Bool { a.kernel == b.kernel && a.stride == b.stride && a.padMode == b.padMode }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        do {
            return try MaxPool2D(kernel: kernel, stride: stride, padMode: padMode).infer(inputs)
        } catch {
            throw OpError(type, error.message)
        }
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[0]
        var g = try MaxPool2D(kernel: kernel, stride: stride, padMode: padMode).geometry(x.shape)
        var y = Tensor(zeros: [x.shape[0], x.shape[1], g.outHeight, g.outWidth])
        y.withMutableFloats { yp in x.withFloats { npu_avgpool_f32(yp, $0, &g.window, Int32(x.shape[0] * x.shape[1])) } }
        return [y]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(AvgPoolGrad(kernel: kernel, stride: stride, padMode: padMode, inputShape: b.type(of: x[0]).shape.dims), [g[0]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work {
        // A window is clipped to the input: the taps that land inside it, never more.
        let s = inputs[0].shape
        let taps = s.rank == 4 ? min(kernel.0, s[2]) * min(kernel.1, s[3]) : kernel.0 * kernel.1
        return elementwiseWork(inputs, outputs, flopsPerElement: Double(taps))
    }

    static let info = OpInfo(type: "AvgPool", summary: "2-D average pooling", hasBackward: true, plannedReductions: []) {
        OpSample(AvgPool2D(kernel: (2, 2), stride: (1, 1), padMode: .same), [sampleTensor([1, 1, 3, 3])]) { i in
            // same padding with a 2×2 window at stride 1 pads one row and column at the bottom/right.
            [(0..<9).map { k in
                let (oi, oj) = (k / 3, k % 3)
                let cells = [(oi, oj), (oi, oj + 1), (oi + 1, oj), (oi + 1, oj + 1)].filter { $0.0 < 3 && $0.1 < 3 }
                return cells.reduce(0.0) { $0 + i[0][$1.0 * 3 + $1.1] } / Double(cells.count)
            }]
        }
    }
}

/// AvgPool's backward: each dy spread evenly over its window's valid elements. Input dy.
public struct AvgPoolGrad: OpDef, Equatable {
    public let kernel: (Int, Int)
    public let stride: (Int, Int)
    public let padMode: PadMode
    public let inputShape: [Int]
    public init(kernel: (Int, Int), stride: (Int, Int), padMode: PadMode, inputShape: [Int]) {
        self.kernel = kernel
        self.stride = stride
        self.padMode = padMode
        self.inputShape = inputShape
    }
    public var type: String { "AvgPoolGrad" }
    public static func == (a: Self, b: Self) -> Bool {
        a.kernel == b.kernel && a.stride == b.stride && a.padMode == b.padMode && a.inputShape == b.inputShape
    }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        let y = try MaxPool2D(kernel: kernel, stride: stride, padMode: padMode).infer([TensorType(.float32, Shape(inputShape))])[0]
        guard inputs[0] == y else { throw OpError(type, "dy must be \(y), got \(inputs[0])") }
        return [TensorType(.float32, Shape(inputShape))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        var g = try MaxPool2D(kernel: kernel, stride: stride, padMode: padMode).geometry(Shape(inputShape))
        var dx = Tensor(zeros: Shape(inputShape))
        dx.withMutableFloats { d in inputs[0].withFloats { npu_avgpool_grad_f32(d, $0, &g.window, Int32(inputShape[0] * inputShape[1])) } }
        return [dx]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "AvgPoolGrad", summary: "AvgPool's backward", hasBackward: false, plannedReductions: []) {
        OpSample(AvgPoolGrad(kernel: (2, 2), stride: (2, 2), padMode: .valid, inputShape: [1, 1, 2, 4]),
                 [try! Tensor(shape: [1, 1, 1, 2], values: [Float(4), 8])], gradientInputs: []) { _ in [[1, 1, 2, 2, 1, 1, 2, 2]] }
    }
}
