import Foundation
import NPUDevice
import NPUTensor

/// x^y with broadcasting (x > 0 for a gradient with respect to y).
public struct Pow: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "Pow" }
    func apply(_ a: Float, _ b: Float) -> Float { powf(a, b) }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        // d/dx = y·x^(y−1) = y·out/x; d/dy = out·ln x
        let dx = try b.mul(g[0], try b.div(try b.mul(x[1], y[0]), x[0]))
        let dy = try b.mul(g[0], try b.mul(y[0], try b.one(Log(), [x[0]])))
        return [try b.unbroadcast(dx, to: b.type(of: x[0]).shape), try b.unbroadcast(dy, to: b.type(of: x[1]).shape)]
    }

    static let info = OpInfo(type: "Pow", summary: "x^y (broadcasting)", hasBackward: true, plannedReductions: []) {
        OpSample(Pow(), [sampleTensor([3, 3], scale: 0.5, offset: 1.5), sampleTensor([3], seed: 4, scale: 1, offset: 1)]) { i in
            [referenceBroadcast(i[0], [3, 3], i[1], [3], pow)]
        }
    }
}
