import Foundation
import NPUDevice
import NPUTensor

/// hyperbolic tangent
public struct Tanh: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Tanh" }
    var flopsPerElement: Double { 4 }
    func apply(_ x: Float) -> Float { tanhf(x) }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(TanhGrad(), [y[0], g[0]])]
    }

    static let info = OpInfo(type: "Tanh", summary: "hyperbolic tangent", hasBackward: true, plannedReductions: []) {
        OpSample(Tanh(), [sampleTensor([3, 4], scale: 2)]) { i in [i[0].map { x in Foundation.tanh(x) }] }
    }
}
