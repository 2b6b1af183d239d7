import Foundation
import NPUDevice
import NPUTensor

/// GeLU's backward: dy·GeLU'(x) (inputs dy, x)
public struct GeLUGrad: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "GeLUGrad" }
    func apply(_ a: Float, _ b: Float) -> Float { a * geluTanhDerivative(b) }

    static let info = OpInfo(type: "GeLUGrad", summary: "GeLU's backward: dy·GeLU'(x) (inputs dy, x)", hasBackward: false, plannedReductions: []) {
        OpSample(GeLUGrad(), [sampleTensor([3, 4]), sampleTensor([3, 4], seed: 2, scale: 3)], gradientInputs: []) { i in [zip(i[0], i[1]).map { a, b in a * Double(geluTanhDerivative(Float(b))) }] }
    }
}

/// d/dx of the tanh-approximated GeLU, in float32.
func geluTanhDerivative(_ x: Float) -> Float {
    let k: Float = 0.7978845608
    let inner = k * (x + 0.044715 * x * x * x)
    let t = tanhf(inner)
    return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x)
}
