import NPUDevice
import NPUKernels
import NPUTensor

/// x · y with broadcasting.
public struct Mul: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "Mul" }
    func apply(_ a: Float, _ b: Float) -> Float { a * b }
    var kernel: npu_binary_op? { NPU_MUL }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.unbroadcast(try b.mul(g[0], x[1]), to: b.type(of: x[0]).shape),
         try b.unbroadcast(try b.mul(g[0], x[0]), to: b.type(of: x[1]).shape)]
    }

    static let info = OpInfo(type: "Mul", summary: "x · y (broadcasting)", hasBackward: true, plannedReductions: []) {
        OpSample(Mul(), [sampleTensor([2, 5]), sampleTensor([2, 1], seed: 3)]) { i in
            [referenceBroadcast(i[0], [2, 5], i[1], [2, 1], *)]
        }
    }
}
