import Foundation
import NPUDevice
import NPUTensor

/// −x
public struct Neg: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Neg" }
    var flopsPerElement: Double { 1 }
    func apply(_ x: Float) -> Float { -x }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.neg(g[0])]
    }

    static let info = OpInfo(type: "Neg", summary: "−x", hasBackward: true, plannedReductions: []) {
        OpSample(Neg(), [sampleTensor([3, 4])]) { i in [i[0].map { x in -x }] }
    }
}
