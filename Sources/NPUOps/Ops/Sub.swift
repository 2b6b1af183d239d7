import NPUDevice
import NPUKernels
import NPUTensor

/// x − y with broadcasting.
public struct Sub: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "Sub" }
    func apply(_ a: Float, _ b: Float) -> Float { a - b }
    var kernel: npu_binary_op? { NPU_SUB }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.unbroadcast(g[0], to: b.type(of: x[0]).shape), try b.unbroadcast(try b.neg(g[0]), to: b.type(of: x[1]).shape)]
    }

    static let info = OpInfo(type: "Sub", summary: "x − y (broadcasting)", hasBackward: true, plannedReductions: []) {
        OpSample(Sub(), [sampleTensor([4, 3]), sampleTensor([3], seed: 2)]) { i in
            [referenceBroadcast(i[0], [4, 3], i[1], [3], -)]
        }
    }
}
