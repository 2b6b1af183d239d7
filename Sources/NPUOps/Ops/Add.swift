import NPUDevice
import NPUKernels
import NPUTensor

/// x + y with broadcasting.
public struct Add: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "Add" }
    func apply(_ a: Float, _ b: Float) -> Float { a + b }
    var kernel: npu_binary_op? { NPU_ADD }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.unbroadcast(g[0], to: b.type(of: x[0]).shape), try b.unbroadcast(g[0], to: b.type(of: x[1]).shape)]
    }

    static let info = OpInfo(type: "Add", summary: "x + y (broadcasting)", hasBackward: true, plannedReductions: []) {
        OpSample(Add(), [sampleTensor([2, 3, 4]), sampleTensor([3, 1], seed: 2)]) { i in
            [referenceBroadcast(i[0], [2, 3, 4], i[1], [3, 1], +)]
        }
    }
}
