import Testing
import NPUDevice
import NPUTensor
@testable import NPUOps

/// Tests that change OpenBLAS's process-wide thread count must not overlap.
@Suite(.serialized) struct ThreadIndependenceTests {
    /// A small conv + dense forward and backward: every value's bits with the host's kernels on 1
    /// and 2 threads, as NPUSim runs them (OpenBLAS on one thread per call: its own threading
    /// changes its bits on some CPUs — on AMD's Zen kernels a 32×10×1152 product differs in 5,165
    /// of 36,864 values — which is why `Parallel.takeHostThreads` turns it off).
    func step(threads: Int, policy: Determinism) throws -> [[UInt32]] {
        try onThreads(threads) { try stepOnce(policy: policy) }
    }

    func stepOnce(policy: Determinism) throws -> [[UInt32]] {
        let ctx = PyNative(device: Device(spec: .ascend910), determinism: policy, orderSource: .replay(9))
        let x = roundingTensor([32, 3, 12, 12], seed: 1), w = roundingTensor([8, 3, 3, 3], seed: 2)
        let conv = try ctx.run(Conv2D(padMode: .same), [x, w])[0]
        let flat = try ctx.run(Reshape(shape: [32, -1]), [conv])[0]
        let dense = roundingTensor([10, 8 * 144], seed: 3)
        let y = try ctx.run(MatMul(transposeB: true), [flat, dense])[0]
        let g = roundingTensor([32, 10], seed: 4)
        let dFlat = try ctx.gradients(MatMul(transposeB: true), inputs: [flat, dense], outputs: [y], grads: [g])
        let dConv = try ctx.run(Reshape(shape: [32, 8, 12, 12]), [dFlat[0]!])[0]
        let dW = try ctx.gradients(Conv2D(padMode: .same), inputs: [x, w], outputs: [conv], grads: [dConv])
        return [y, dFlat[0]!, dFlat[1]!, dW[0]!, dW[1]!].map { try! $0.toArray(of: Float.self).map(\.bitPattern) }
    }

    @Test(arguments: [Determinism.on, .off, .strict])
    func oneAndTwoHostThreadsGiveTheSameBits(policy: Determinism) throws {
        #expect(try step(threads: 1, policy: policy) == step(threads: 2, policy: policy))
    }
}

@Suite struct PyNativeTests {
    @Test func opsLaunchOnTheDefaultStreamWithSimulatedTime() throws {
        let device = Device(spec: .test)
        let ctx = PyNative(device: device, determinism: .on)
        let a = sampleTensor([64, 64]), b = sampleTensor([64, 64], seed: 2)
        let c = try ctx.run(MatMul(), [a, b])[0]
        _ = try ctx.run(ReLU(), [c])
        let read = try ctx.read(c)
        #expect(read == c)
        let timeline = device.timeline
        #expect(timeline.map(\.type) == ["MatMul", "ReLU"])
        #expect(timeline.map(\.engine) == [.cube, .vector])
        // test profile: MatMul 2·64³ FLOP at 1 TFLOP/s = 524 ns, 3·16 KiB at 100 GB/s = 491.52 ns
        // → 524 ns + 1 µs launch; ReLU after it: 32 KiB at 100 GB/s = 327.68 ns + 1 µs.
        #expect(timeline[0].duration == SimTime(nanoseconds: 1524))
        #expect(timeline[1].start == timeline[0].end)
        #expect(timeline[1].duration == SimTime(nanoseconds: 1328))
        #expect(device.hostTime == timeline[1].end)  // reading synchronised the host
    }

    @Test func errorsNameTheOpAndTheValues() {
        let ctx = PyNative(device: Device(spec: .test))
        #expect(throws: OpError("Conv2D", "input has 3 channels, weight expects 1")) {
            try ctx.run(Conv2D(), [Tensor(zeros: [1, 3, 8, 8]), Tensor(zeros: [4, 1, 3, 3])])
        }
        #expect(OpError("Conv2D", "input has 3 channels, weight expects 1").description == "[Conv2D] input has 3 channels, weight expects 1")
        #expect(throws: OpError("MatMul", "inner dimensions differ: op(A) is 2×3, op(B) is 4×5 (transpose_a false, transpose_b false)")) {
            try ctx.run(MatMul(), [Tensor(zeros: [2, 3]), Tensor(zeros: [4, 5])])
        }
        #expect(throws: OpError("Add", "shapes [2, 3] and [4] do not broadcast")) {
            try ctx.run(Add(), [Tensor(zeros: [2, 3]), Tensor(zeros: [4])])
        }
        #expect(throws: OpError("Reshape", "cannot reshape [2, 3] (6 elements) to [4, -1]")) {
            try ctx.run(Reshape(shape: [4, -1]), [Tensor(zeros: [2, 3])])
        }
        #expect(throws: OpError("ReduceSum", "axis 2 is out of range for rank 2 (valid: -2..<2)")) {
            try ctx.run(ReduceSum(axes: [2]), [Tensor(zeros: [2, 3])])
        }
        #expect(throws: OpError("Exp", "x must be float32, got int32 (cast it first)")) {
            try ctx.run(Exp(), [Tensor(zeros: [2], dtype: .int32)])
        }
        #expect(throws: OpError("SoftmaxCrossEntropyWithLogits", "label 7 of sample 1 is outside 0..<3")) {
            try ctx.run(SoftmaxCrossEntropyWithLogits(sparse: true), [Tensor(zeros: [2, 3]), try Tensor(shape: [2], values: [Int32(0), 7])])
        }
        #expect(throws: OpError("Gather", "index 9 at position 0 is outside 0..<4")) {
            try ctx.run(Gather(), [Tensor(zeros: [4, 2]), try Tensor(shape: [1], values: [Int32(9)])])
        }
        #expect(throws: OpError("BatchNorm", "scale must be [3] for input [2, 3, 4, 4], got [4]")) {
            try ctx.run(BatchNorm(isTraining: true), [Tensor(zeros: [2, 3, 4, 4]), Tensor(zeros: [4]), Tensor(zeros: [3]), Tensor(zeros: [3]), Tensor(zeros: [3])])
        }
        #expect(throws: OpError("Conv2D", "the 5×5 window (dilation (1, 1)) does not fit the 3×3 input with padding valid")) {
            try ctx.run(Conv2D(), [Tensor(zeros: [1, 1, 3, 3]), Tensor(zeros: [1, 1, 5, 5])])
        }
        #expect(throws: OpError("ReluGrad", "has no backward")) {
            try ctx.gradients(ReluGrad(), inputs: [Tensor(zeros: [1]), Tensor(zeros: [1])], outputs: [Tensor(zeros: [1])], grads: [Tensor(zeros: [1])])
        }
    }
}
