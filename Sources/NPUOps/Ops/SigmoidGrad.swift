import Foundation
import NPUDevice
import NPUTensor

/// Sigmoid's backward: dy·y·(1 − y) (inputs y, dy)
public struct SigmoidGrad: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "SigmoidGrad" }
    func apply(_ a: Float, _ b: Float) -> Float { b * a * (1 - a) }

    static let info = OpInfo(type: "SigmoidGrad", summary: "Sigmoid's backward: dy·y·(1 − y) (inputs y, dy)", hasBackward: false, plannedReductions: []) {
        OpSample(SigmoidGrad(), [sampleTensor([3, 4], scale: 0.5, offset: 0.5), sampleTensor([3, 4], seed: 2)], gradientInputs: []) { i in [zip(i[0], i[1]).map { a, b in b * a * (1 - a) }] }
    }
}
