import Foundation
import NPUDevice
import NPUTensor

/// GeLU, tanh approximation (MindSpore's GeLU)
public struct GeLU: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "GeLU" }
    var flopsPerElement: Double { 8 }
    func apply(_ x: Float) -> Float { geluTanh(x) }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(GeLUGrad(), [g[0], x[0]])]
    }

    static let info = OpInfo(type: "GeLU", summary: "GeLU, tanh approximation (MindSpore's GeLU)", hasBackward: true, plannedReductions: []) {
        OpSample(GeLU(), [sampleTensor([3, 4], scale: 3)]) { i in [i[0].map { x in 0.5 * x * (1 + Foundation.tanh((2 / Double.pi).squareRoot() * (x + 0.044715 * x * x * x))) }] }
    }
}

/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))) in float32.
func geluTanh(_ x: Float) -> Float {
    let k: Float = 0.7978845608  // √(2/π)
    return 0.5 * x * (1 + tanhf(k * (x + 0.044715 * x * x * x)))
}
