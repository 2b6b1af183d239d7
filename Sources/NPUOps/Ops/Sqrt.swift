import Foundation
import NPUDevice
import NPUTensor

/// square root
public struct Sqrt: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Sqrt" }
    var flopsPerElement: Double { 2 }
    func apply(_ x: Float) -> Float { x.squareRoot() }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.div(try b.mul(g[0], b.scalar(0.5)), y[0])]
    }

    static let info = OpInfo(type: "Sqrt", summary: "square root", hasBackward: true, plannedReductions: []) {
        OpSample(Sqrt(), [sampleTensor([3, 4], scale: 0.9, offset: 1.5)]) { i in [i[0].map { x in x.squareRoot() }] }
    }
}
