import Foundation
import NPUDevice
import NPUTensor

/// 1 / √x
public struct Rsqrt: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Rsqrt" }
    var flopsPerElement: Double { 3 }
    func apply(_ x: Float) -> Float { 1 / x.squareRoot() }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.mul(try b.mul(g[0], b.scalar(-0.5)), try b.mul(y[0], try b.mul(y[0], y[0])))]
    }

    static let info = OpInfo(type: "Rsqrt", summary: "1 / √x", hasBackward: true, plannedReductions: []) {
        OpSample(Rsqrt(), [sampleTensor([3, 4], scale: 0.9, offset: 1.5)]) { i in [i[0].map { x in 1 / x.squareRoot() }] }
    }
}
