import Foundation
import NPUDevice
import NPUTensor

/// Tanh's backward: dy·(1 − y²) (inputs y, dy)
public struct TanhGrad: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "TanhGrad" }
    func apply(_ a: Float, _ b: Float) -> Float { b * (1 - a * a) }

    static let info = OpInfo(type: "TanhGrad", summary: "Tanh's backward: dy·(1 − y²) (inputs y, dy)", hasBackward: false, plannedReductions: []) {
        OpSample(TanhGrad(), [sampleTensor([3, 4]), sampleTensor([3, 4], seed: 2)], gradientInputs: []) { i in [zip(i[0], i[1]).map { a, b in b * (1 - a * a) }] }
    }
}
