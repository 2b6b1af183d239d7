import Testing
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor
@testable import NPUTrain

/// A layer with an input it accepts.
struct LayerCase: CustomTestStringConvertible, Sendable {
    var name: String
    var input: Shape
    var make: @Sendable (LayerContext) throws -> any Layer
    var testDescription: String { name }
}

let layerCases: [LayerCase] = [
    LayerCase(name: "Dense", input: [3, 5]) { try Dense(5, 4, name: "d", $0) },
    LayerCase(name: "Conv2d", input: [2, 2, 5, 5]) { try Conv2d(2, 3, kernel: 3, stride: 2, name: "c", $0) },
    LayerCase(name: "BatchNorm2d", input: [4, 2, 3, 3]) { try BatchNorm2d(2, name: "bn", $0) },
    LayerCase(name: "LayerNorm", input: [3, 6]) { try LayerNormLayer([6], name: "ln", $0) },
    LayerCase(name: "ReLU", input: [3, 5]) { _ in OpLayer.relu() },
    LayerCase(name: "GELU", input: [3, 5]) { _ in OpLayer.gelu() },
    LayerCase(name: "Sigmoid", input: [3, 5]) { _ in OpLayer.sigmoid() },
    LayerCase(name: "Tanh", input: [3, 5]) { _ in OpLayer.tanh() },
    LayerCase(name: "Softmax", input: [3, 5]) { _ in OpLayer.softmax() },
    LayerCase(name: "MaxPool2d", input: [1, 2, 4, 4]) { _ in OpLayer.maxPool2d(kernel: 2, stride: 2) },
    LayerCase(name: "AvgPool2d", input: [1, 2, 4, 4]) { _ in OpLayer.avgPool2d(kernel: 2, stride: 1, padMode: .same) },
    LayerCase(name: "Flatten", input: [2, 3, 2]) { _ in Flatten() },
    LayerCase(name: "MultiHeadAttention", input: [2, 3, 4]) { try MultiHeadAttention(embedding: 4, heads: 2, name: "mha", $0) },
    LayerCase(name: "TransformerBlock", input: [2, 3, 4]) { try TransformerBlock(embedding: 4, heads: 2, name: "tb", $0) },
    LayerCase(name: "MultiheadAttention (MindSpore's)", input: [2, 3, 4]) { try MultiheadAttentionLayer(embedDim: 4, numHeads: 2, name: "attn", $0) },
    LayerCase(name: "Dense on [B, S, E]", input: [2, 3, 5]) { try Dense(5, 4, name: "d3", $0) },
]

@Suite struct LayerGradientTests {
    /// Gradients of L = Σ w·layer(x) with respect to x and every trainable parameter, from graph
    /// mode, against central differences of L computed by the same compiled graph (h = 1e-2).
    @Test(arguments: layerCases)
    func gradientsMatchFiniteDifferences(c: LayerCase) throws {
        let ctx = try context()
        let layer = try c.make(ctx)
        var b = GraphModel(isTraining: true)
        let x = b.graph.input("x", TensorType(.float32, c.input))
        let y = try layer(&b, x)
        let w = b.constant(sampleTensor(b.type(of: y).shape, seed: 3))
        let loss = try b.op(ReduceSum(), [try b.op(Mul(), [y, w])])
        let trainable = layer.parameters.filter(\.requiresGrad)
        let grads = try b.graph.gradients(of: loss, wrt: [x] + trainable.map { b.read($0) }).map { $0! }
        let compiled = try CompiledGraph(b.graph, fetches: [loss] + grads, device: Device(spec: .ascend910), store: ctx.store,
                                         planner: ReductionPlanner(spec: .ascend910, policy: .on))
        var input = try sampleTensor(c.input, seed: 7, scale: 1.5).toArray(of: Float.self)
        let out = try compiled.step(["x": try Tensor(shape: c.input, values: input)])
        func lossValue() throws -> Double {
            Double(try compiled.step(["x": try Tensor(shape: c.input, values: input)])[0].toArray(of: Float.self)[0])
        }
        let h: Float = 1e-2
        // d/dx
        let dx = try out[1].toArray(of: Float.self)
        for k in Swift.stride(from: 0, to: input.count, by: max(1, input.count / 8)) {
            let saved = input[k]
            input[k] = saved + h
            let up = try lossValue()
            input[k] = saved - h
            let down = try lossValue()
            input[k] = saved
            let numeric = (up - down) / (2 * Double(h))
            #expect(abs(Double(dx[k]) - numeric) <= 5e-3 + 2e-2 * abs(numeric), "\(c.name) dx[\(k)]: \(dx[k]) vs \(numeric)")
        }
        // d/dparameters
        for (p, g) in zip(trainable, out.dropFirst(2)) {
            let analytic = try g.toArray(of: Float.self)
            var values = try ctx.store[p.name]!.toArray(of: Float.self)
            for k in Swift.stride(from: 0, to: values.count, by: max(1, values.count / 6)) {
                let saved = values[k]
                values[k] = saved + h
                ctx.store[p.name] = try Tensor(shape: p.type.shape, values: values)
                let up = try lossValue()
                values[k] = saved - h
                ctx.store[p.name] = try Tensor(shape: p.type.shape, values: values)
                let down = try lossValue()
                values[k] = saved
                ctx.store[p.name] = try Tensor(shape: p.type.shape, values: values)
                let numeric = (up - down) / (2 * Double(h))
                #expect(abs(Double(analytic[k]) - numeric) <= 5e-3 + 2e-2 * abs(numeric), "\(c.name) d\(p.name)[\(k)]: \(analytic[k]) vs \(numeric)")
            }
        }
    }
}

/// MindSpore's MultiheadAttention (one in-projection [3E, E] split into q, k, v) computes what
/// the layer with separate q, k, v projections computes when its rows are theirs.
@Suite struct MultiheadAttentionTests {
    @Test func theFusedInProjectionIsTheSeparateProjections() throws {
        let ctx = try context()
        let fused = try MultiheadAttentionLayer(embedDim: 8, numHeads: 2, name: "attn", ctx)
        let separate = try MultiHeadAttention(embedding: 8, heads: 2, name: "mha", ctx)
        #expect(fused.parameters.map(\.name) == ["attn.in_proj_weight", "attn.in_proj_bias", "attn.out_proj.weight", "attn.out_proj.bias"])
        #expect(fused.inProjWeight.type.shape == [24, 8] && fused.inProjBias!.type.shape == [24])
        // Give the fused layer's weights to the separate one: rows 0..<8 are q, 8..<16 k, 16..<24 v.
        let w = try ctx.store["attn.in_proj_weight"]!.toArray(of: Float.self)
        let bias = try sampleTensor([24], seed: 5).toArray(of: Float.self)
        ctx.store["attn.in_proj_bias"] = try Tensor(shape: [24], values: bias)
        for (k, layer) in [separate.q, separate.k, separate.v].enumerated() {
            ctx.store[layer.weight.name] = try Tensor(shape: [8, 8], values: Array(w[(k * 64)..<((k + 1) * 64)]))
            ctx.store[layer.bias!.name] = try Tensor(shape: [8], values: Array(bias[(k * 8)..<((k + 1) * 8)]))
        }
        ctx.store[separate.out.weight.name] = ctx.store["attn.out_proj.weight"]
        ctx.store[separate.out.bias!.name] = ctx.store["attn.out_proj.bias"]
        func run(_ layer: any Layer) throws -> [Float] {
            var b = GraphModel(isTraining: false)
            let y = try layer(&b, b.graph.input("x", TensorType(.float32, [2, 5, 8])))
            let g = try CompiledGraph(b.graph, fetches: [y], device: Device(spec: .ascend910), store: ctx.store, planner: ReductionPlanner(spec: .ascend910, policy: .on))
            return try g.step(["x": try sampleTensor([2, 5, 8], seed: 9)])[0].toArray(of: Float.self)
        }
        let a = try run(fused), c = try run(separate)
        #expect(a.count == 80)
        for (x, y) in zip(a, c) { #expect(abs(x - y) <= 1e-5 * max(1, abs(y)), "\(x) vs \(y)") }
        #expect(throws: TrainError.self) { try MultiheadAttentionLayer(embedDim: 6, numHeads: 4, name: "bad", ctx) }
    }
}
