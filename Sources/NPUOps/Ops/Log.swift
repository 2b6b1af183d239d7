import Foundation
import NPUDevice
import NPUTensor

/// natural logarithm
public struct Log: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "Log" }
    var flopsPerElement: Double { 4 }
    func apply(_ x: Float) -> Float { logf(x) }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.div(g[0], x[0])]
    }

    static let info = OpInfo(type: "Log", summary: "natural logarithm", hasBackward: true, plannedReductions: []) {
        OpSample(Log(), [sampleTensor([3, 4], scale: 0.9, offset: 1.5)]) { i in [i[0].map { x in Foundation.log(x) }] }
    }
}
