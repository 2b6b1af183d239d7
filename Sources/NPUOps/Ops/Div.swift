import NPUDevice
import NPUKernels
import NPUTensor

/// x / y with broadcasting.
public struct Div: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "Div" }
    func apply(_ a: Float, _ b: Float) -> Float { a / b }
    var kernel: npu_binary_op? { NPU_DIV }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let dx = try b.div(g[0], x[1])
        let dy = try b.neg(try b.mul(dx, y[0]))  // −g·(x/y)/y
        return [try b.unbroadcast(dx, to: b.type(of: x[0]).shape), try b.unbroadcast(dy, to: b.type(of: x[1]).shape)]
    }

    static let info = OpInfo(type: "Div", summary: "x / y (broadcasting)", hasBackward: true, plannedReductions: []) {
        OpSample(Div(), [sampleTensor([3, 4]), sampleTensor([4], seed: 2, scale: 0.5, offset: 2)]) { i in
            [referenceBroadcast(i[0], [3, 4], i[1], [4], /)]
        }
    }
}
