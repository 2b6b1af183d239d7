import Foundation
import NPUDevice
import NPUTensor

/// log-softmax along `axis`: x − max − log Σ exp(x − max).
public struct LogSoftmax: OpDef, Equatable {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public var type: String { "LogSoftmax" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] { try Softmax(axis: axis).infer(inputs) }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        [try softmaxRows(inputs[0], axis: axis, log: true, op: type)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let s = try b.reduceSum(g[0], axes: [axis], keepDims: true)
        return [try b.sub(g[0], try b.mul(try b.one(Exp(), [y[0]]), s))]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs, flopsPerElement: 6) }

    static let info = OpInfo(type: "LogSoftmax", summary: "log-softmax along an axis", hasBackward: true, plannedReductions: [],
                             backwardReductions: ["ReduceSum/sum"]) {
        OpSample(LogSoftmax(), [sampleTensor([4, 3], scale: 3)]) { i in [referenceSoftmax(i[0], rows: 4, cols: 3, log: true)] }
    }
}
