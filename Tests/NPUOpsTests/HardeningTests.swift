import Testing
import NPUDevice
import NPUTensor
@testable import NPUOps

/// Op inputs that trapped before: float → int casts of NaN and huge values, and int64 indices
/// beyond what a double holds exactly.
@Suite struct OpHardeningTests {
    let ctx = KernelContext(planner: ReductionPlanner(spec: .test, policy: .on))

    @Test func castOfNaNAndOutOfRangeValuesGivesTheIntegerMinimum() throws {
        let x = try Tensor(shape: [6], values: [Float.nan, .infinity, 3e9, -3e9, -2.7, 2.7])
        #expect(try Cast(to: .int32).forward([x], ctx)[0].toArray(of: Int32.self) == [.min, .min, .min, .min, -2, 2])
        let big = try Tensor(shape: [3], values: [Float.nan, 1e19, -1e19])
        #expect(try Cast(to: .int64).forward([big], ctx)[0].toArray(of: Int64.self) == [.min, .min, .min])
    }

    @Test func hugeInt64IndicesAreErrorsNotTraps() throws {
        let idx = try Tensor(shape: [2], values: [Int64.max, 0])
        #expect(throws: OpError("Gather", "index \(Int64.max) at position 0 is outside 0..<3")) {
            try Gather().forward([sampleTensor([3, 2]), idx], ctx)
        }
        #expect(throws: OpError("SoftmaxCrossEntropyWithLogits", "label \(Int64.max) of sample 0 is outside 0..<4")) {
            try SoftmaxCrossEntropyWithLogits(sparse: true).forward([sampleTensor([2, 4]), idx], ctx)
        }
        // OneHot gives an all-off row for an index outside the depth, as MindSpore does.
        let oneHot = try OneHot(depth: 3).forward([idx], ctx)[0].toArray(of: Float.self)
        #expect(oneHot == [0, 0, 0, 1, 0, 0])
    }
}
