import Foundation
import NPUDevice
import NPUKernels
import NPUTensor

/// max(x, 0)
public struct ReLU: UnaryElementwise, Equatable {
    public init() {}
    public var type: String { "ReLU" }
    var flopsPerElement: Double { 1 }
    func apply(_ x: Float) -> Float { x > 0 ? x : 0 }
    var kernel: (@convention(c) (UnsafeMutablePointer<Float>?, UnsafePointer<Float>?, Int) -> Void)? { npu_relu_f32 }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        [try b.one(ReluGrad(), [g[0], y[0]])]
    }

    static let info = OpInfo(type: "ReLU", summary: "max(x, 0)", hasBackward: true, plannedReductions: []) {
        OpSample(ReLU(), [sampleTensor([3, 4], seed: 7)]) { i in [i[0].map { x in x > 0 ? x : 0 }] }
    }
}
