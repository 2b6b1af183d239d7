import Foundation
import NPUDevice
import NPUTensor

/// 1 / (1 + e⁻ˣ)
public struct Sigmoid: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Sigmoid" }
    var flopsPerElement: Double { 4 }
    func apply(_ x: Float) -> Float { 1 / (1 + expf(-x)) }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(SigmoidGrad(), [y[0], g[0]])]
    }

    static let info = OpInfo(type: "Sigmoid", summary: "1 / (1 + e⁻ˣ)", hasBackward: true, plannedReductions: []) {
        OpSample(Sigmoid(), [sampleTensor([3, 4], scale: 3)]) { i in [i[0].map { x in 1 / (1 + Foundation.exp(-x)) }] }
    }
}
