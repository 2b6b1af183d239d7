import NPUDevice
import NPUTensor

/// min(x, y) with broadcasting; the gradient goes to x where x ≤ y, else to y.
public struct Minimum: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "Minimum" }
    func apply(_ a: Float, _ b: Float) -> Float { a <= b ? a : b }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let d = try b.apply(SelectGrad(pickFirstWhenGreaterOrEqual: false), [x[0], x[1], g[0]])
        return [try b.unbroadcast(d[0], to: b.type(of: x[0]).shape), try b.unbroadcast(d[1], to: b.type(of: x[1]).shape)]
    }

    static let info = OpInfo(type: "Minimum", summary: "min(x, y) (broadcasting)", hasBackward: true, plannedReductions: []) {
        OpSample(Minimum(), [sampleTensor([4, 3]), sampleTensor([3], seed: 6)]) { i in
            [referenceBroadcast(i[0], [4, 3], i[1], [3], { $0 <= $1 ? $0 : $1 })]
        }
    }
}
