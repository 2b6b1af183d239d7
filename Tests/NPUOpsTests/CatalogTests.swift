import Foundation
import Testing
import NPUDevice
import NPURandom
import NPUTensor
@testable import NPUOps

/// Fixed pseudo-random output weights: the loss of the gradient check is Σ w·output.
func lossWeights(_ type: TensorType, seed: UInt64) -> Tensor {
    sampleTensor(type.shape, seed: seed)
}

func close(_ got: Double, _ want: Double, rtol: Double, atol: Double) -> Bool {
    abs(got - want) <= atol + rtol * abs(want) || (got.isNaN && want.isNaN)
}

@Suite struct CatalogTests {
    static let types = OpCatalog.all.map(\.type)
    static let differentiable = OpCatalog.all.filter(\.hasBackward).map(\.type)

    @Test func isSameComparesTypeAndParameters() {
        #expect(MatMul(transposeB: true).isSame(as: MatMul(transposeB: true)))
        #expect(!MatMul(transposeB: true).isSame(as: MatMul()))
        #expect(!MatMul().isSame(as: BatchMatMul()))
        #expect(Conv2D(stride: (2, 2)).isSame(as: Conv2D(stride: (2, 2))))
        #expect(!Conv2D(stride: (2, 2)).isSame(as: Conv2D(stride: (2, 1))))
        #expect(!MaxPool2D(kernel: (2, 2), stride: (2, 2)).isSame(as: MaxPool2D(kernel: (3, 3), stride: (2, 2))))
        // A Dropout is its kernel's random stream: another kernel is another op.
        let seeds = SeedPair(seed: 1, seed2: 2, rule: .bothSeeds(call: 1))
        let kernel = RandomKernel(.dropout, seeds: seeds)
        #expect(Dropout(keepProb: 0.5, kernel: kernel).isSame(as: Dropout(keepProb: 0.5, kernel: kernel)))
        #expect(!Dropout(keepProb: 0.5, kernel: kernel).isSame(as: Dropout(keepProb: 0.5, kernel: RandomKernel(.dropout, seeds: seeds))))
        #expect(!Dropout(keepProb: 0.5, kernel: kernel).isSame(as: Dropout(keepProb: 0.25, kernel: kernel)))
    }

    @Test func catalogueNamesAreUnique() {
        #expect(Set(Self.types).count == Self.types.count)
    }

    @Test(arguments: types)
    func forwardMatchesNaiveDoubleReference(type: String) throws {
        let sample = OpCatalog.info(type)!.sample()
        #expect(sample.op.type == type)
        let ctx = PyNative(device: Device(spec: .ascend910), determinism: .on)
        let outputs = try ctx.run(sample.op, sample.inputs)
        let reference = sample.reference(sample.inputs.map { $0.doubles() })
        #expect(reference.count <= outputs.count)
        for (k, want) in reference.enumerated() {
            let got = outputs[k].doubles()
            #expect(got.count == want.count, "\(type) output \(k): \(got.count) values, reference \(want.count)")
            let bad = zip(got, want).filter { !close($0, $1, rtol: sample.tolerance, atol: sample.tolerance) }
            #expect(bad.isEmpty, "\(type) output \(k): \(bad.count) values differ, first \(bad.first.map { "\($0)" } ?? "")")
        }
    }

    @Test(arguments: differentiable)
    func backwardMatchesFiniteDifferences(type: String) throws {
        let sample = OpCatalog.info(type)!.sample()
        let ctx = PyNative(device: Device(spec: .ascend910), determinism: .on)
        let outputs = try ctx.run(sample.op, sample.inputs)
        let weights = outputs.enumerated().map { k, o in
            sample.gradientOutputs.contains(k) && o.dtype == .float32 ? lossWeights(o.type, seed: UInt64(11 + k)) : Tensor(zeros: o.shape, dtype: o.dtype)
        }
        let grads = try ctx.gradients(sample.op, inputs: sample.inputs, outputs: outputs, grads: weights)
        let w = weights.map { $0.doubles() }
        func loss(_ values: [[Double]]) -> Double {
            let out = sample.reference(values)
            return sample.gradientOutputs.reduce(0.0) { total, k in total + zip(out[k], w[k]).reduce(0.0) { $0 + $1.0 * $1.1 } }
        }
        for j in sample.gradientInputs {
            let analytic = try #require(grads[j], "\(type): no gradient for input \(j)").doubles()
            var values = sample.inputs.map { $0.doubles() }
            for e in values[j].indices {
                let x = values[j][e], h = 1e-3 * max(1, abs(x))
                values[j][e] = x + h
                let up = loss(values)
                values[j][e] = x - h
                let down = loss(values)
                values[j][e] = x
                let numeric = (up - down) / (2 * h)
                #expect(close(analytic[e], numeric, rtol: 1e-2, atol: 2e-3), "\(type) d/dinput\(j)[\(e)]: backward \(analytic[e]), finite difference \(numeric)")
            }
        }
    }
}
