import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
@testable import NPUTrain

/// The first initial values of the reference MLP after set_seed(1), as MindSpore 2.10 CPU gives
/// them (printed by bench/mindspore_mlp_step.py on 2026-11-23): parameters are created in
/// construction order, each drawing its numpy seed, with Dense's default initializers.
@Suite struct MindSporeParityTests {
    @Test func referenceMLPInitialWeightsEqualMindSpores() throws {
        let ctx = try context(seed: 1)
        _ = try Dense(784, 128, name: "fc1", ctx)
        _ = try Dense(128, 10, name: "fc2", ctx)
        let expected: [String: [UInt32]] = [
            "fc1.weight": [0x3CAA94D6, 0xBC9580BB, 0x3C4D7C6B, 0xBCDB9A37],
            "fc1.bias": [0xBC6A2AFF, 0xBA9C5F33, 0x3D056D7E, 0x3C8E6EC2],
            "fc2.weight": [0x3D86BB0F, 0x3CAF61F1, 0xBDA8613A, 0x3CA9EEF5],
            "fc2.bias": [0x3D1D854B, 0x3C459EBC, 0xBDB25BCE, 0xBD61A13F],
        ]
        for (name, bits) in expected {
            #expect(try ctx.store[name]!.toArray(of: Float.self).prefix(4).map(\.bitPattern) == bits, "\(name)")
        }
    }

    /// One training step of nn.BatchNorm2d(2, momentum=0.9) on x = arange(16)·0.5 as [2, 2, 2, 2]:
    /// MindSpore 2.10 gives moving_mean [0.275, 0.475] and moving_variance [1.3928572, 1.3928572]
    /// (the unbiased batch variance; the biased one would give 1.33125).
    @Test func batchNormMovingStatisticsEqualMindSpores() throws {
        let ctx = try context()
        let bn = try BatchNorm2d(2, name: "bn", ctx)
        let tape = Tape(context: PyNative(device: Device(spec: .test), determinism: .on))
        var b = TapeModel(tape: tape, store: ctx.store, isTraining: true)
        let x = try Tensor(shape: [2, 2, 2, 2], values: (0..<16).map { Float($0) * 0.5 })
        _ = try bn(&b, tape.watch(x))
        for (name, value) in b.writes { ctx.store[name] = value }
        #expect(try ctx.store["bn.moving_mean"]!.toArray(of: Float.self) == [0.275, 0.475])
        #expect(try ctx.store["bn.moving_variance"]!.toArray(of: Float.self) == [1.3928572, 1.3928572])
    }

    /// After set_seed(1): nn.Conv2d(1, 6, 5, pad_mode='valid'), nn.Embedding(10, 4) and
    /// nn.Dropout(p=0.5), constructed in that order; the Dropout layer applied twice to ones(16)
    /// in training continues its kernel's stream. Values printed by MindSpore 2.10 CPU (PyNative).
    @Test func conv2dEmbeddingAndDropoutLayerEqualMindSpores() throws {
        let ctx = try context(seed: 1)
        _ = try Conv2d(1, 6, kernel: 5, padMode: .valid, name: "conv1", ctx)
        _ = try Embedding(10, 4, name: "embedding", ctx)
        let drop = try DropoutLayer(p: 0.5, ctx)
        #expect(try ctx.store["conv1.weight"]!.toArray(of: Float.self).prefix(4).map(\.bitPattern) == [0x3DEED05E, 0xBDD14DD3, 0x3D8FD717, 0xBE19B8C0])
        #expect(try ctx.store["embedding.embedding_table"]!.toArray(of: Float.self).prefix(4).map(\.bitPattern) == [0xBC296E4A, 0x3B63B328, 0xBC059D0E, 0xBC0BBC2A])
        let tape = Tape(context: PyNative(device: Device(spec: .test)))
        var b = TapeModel(tape: tape, store: ctx.store, isTraining: true)
        let ones = try Tensor(shape: [16], values: [Float](repeating: 1, count: 16))
        let first = try drop(&b, tape.watch(ones)).tensor.toArray(of: Float.self)
        let second = try drop(&b, tape.watch(ones)).tensor.toArray(of: Float.self)
        #expect(first == [2, 0, 0, 0, 0, 2, 0, 2, 2, 2, 2, 2, 2, 0, 2, 2])
        #expect(second == [2, 0, 0, 2, 2, 0, 2, 2, 2, 2, 0, 2, 2, 2, 0, 0])
    }
}
