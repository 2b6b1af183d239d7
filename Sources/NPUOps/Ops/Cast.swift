import NPUDevice
import NPUKernels
import NPUTensor

/// Element type conversion (float→int truncates toward zero; float32→float16 rounds to nearest).
public struct Cast: OpDef, Equatable {
    public let to: DType
    /// A float16 cube operand widened to float32 for the host's GEMM: the card's cube reads float16
    /// itself, so this cast launches no kernel.
    public let cubeOperand: Bool
    public init(to: DType, cubeOperand: Bool = false) {
        self.to = to
        self.cubeOperand = cubeOperand
    }
    public var type: String { "Cast" }
    public var launchesKernel: Bool { !cubeOperand }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        return [TensorType(to, inputs[0].shape)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let x = inputs[0]
        if x.dtype == to { return [x] }
        if x.count > 0, (x.dtype, to) == (.float32, .float16) || (x.dtype, to) == (.float16, .float32) {
            var out = Tensor(unfilled: x.shape, dtype: to)
            out.withUnsafeMutableBytes { o in
                x.withUnsafeBytes { i in
                    if to == .float16 {
                        npu_f32_to_f16(o.bindMemory(to: UInt16.self).baseAddress!, i.bindMemory(to: Float.self).baseAddress!, x.count)
                    } else {
                        npu_f16_to_f32(o.bindMemory(to: Float.self).baseAddress!, i.bindMemory(to: UInt16.self).baseAddress!, x.count)
                    }
                }
            }
            return [out]
        }
        let values = x.doubles()
        let out: Tensor = switch to {
        case .float32: try! Tensor(shape: x.shape, values: x.dtype == .float16 ? (try! x.toArray(of: Float16.self)).map(Float.init) : values.map { Float($0) })
        case .float16: try! Tensor(shape: x.shape, values: x.dtype == .float32 ? (try! x.toArray(of: Float.self)).map { Float16($0) } : values.map { Float16($0) })
        // Truncation toward zero; NaN and values out of range give the integer minimum, as the x86
        // conversion instructions (and so MindSpore's CPU Cast, a static_cast) do.
        case .int32: try! Tensor(shape: x.shape, values: values.map { $0 > -2147483649 && $0 < 2147483648 ? Int32($0.rounded(.towardZero)) : Int32.min })
        case .int64: try! Tensor(shape: x.shape, values: values.map { $0 >= -0x1p63 && $0 < 0x1p63 ? Int64($0.rounded(.towardZero)) : Int64.min })
        case .bool: try! Tensor(shape: x.shape, values: values.map { $0 != 0 })
        }
        return [out]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let from = b.type(of: x[0]).dtype
        guard from.isFloatingPoint, to.isFloatingPoint else { return [nil] }
        // The gradient of a cube operand's widening is the cube's float16 output: no kernel either.
        return [try b.one(Cast(to: from, cubeOperand: cubeOperand), [g[0]])]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "Cast", summary: "dtype conversion", hasBackward: true, plannedReductions: []) {
        // float32 → float16 → float32 rounds through half precision; the reference does the same.
        OpSample(Cast(to: .float32), [try! Tensor(shape: [2, 2], values: [Float16(0.5), -1.25, 3.0, 0.1])]) { i in [i[0]] }
    }
}
