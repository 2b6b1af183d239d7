import Foundation
import NPUDevice
import NPUTensor

/// eˣ
public struct Exp: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Exp" }
    var flopsPerElement: Double { 4 }
    func apply(_ x: Float) -> Float { expf(x) }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.mul(g[0], y[0])]
    }

    static let info = OpInfo(type: "Exp", summary: "eˣ", hasBackward: true, plannedReductions: []) {
        OpSample(Exp(), [sampleTensor([3, 4])]) { i in [i[0].map { x in Foundation.exp(x) }] }
    }
}
