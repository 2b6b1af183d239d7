import Foundation
import NPUDevice
import NPUKernels
import NPUTensor

/// ReLU's backward: dy where y > 0 (inputs dy, y)
public struct ReluGrad: BinaryElementwise, Equatable {
    public init() {}
    public var type: String { "ReluGrad" }
    func apply(_ a: Float, _ b: Float) -> Float { b > 0 ? a : 0 }
    var kernel: npu_binary_op? { NPU_RELU_GRAD }

    static let info = OpInfo(type: "ReluGrad", summary: "ReLU's backward: dy where y > 0 (inputs dy, y)", hasBackward: false, plannedReductions: []) {
        OpSample(ReluGrad(), [sampleTensor([3, 4]), sampleTensor([3, 4], seed: 2)], gradientInputs: []) { i in [zip(i[0], i[1]).map { a, b in b > 0 ? a : 0 }] }
    }
}
