import Foundation
import NPUOps
import NPURandom
import NPUTensor

/// `nn.Embedding(vocab_size, embedding_size)`: a table [vocab, size] initialised Normal(0.01);
/// int32 ids [...] → [..., size]. Its gradient is Gather's planned scatter-add.
public final class Embedding: Layer {
    public let name: String
    public let table: Parameter

    public init(_ vocabSize: Int, _ embeddingSize: Int, name: String, _ ctx: LayerContext) throws {
        self.name = name
        table = try ctx.parameter("\(name).embedding_table", [vocabSize, embeddingSize], .normal())
    }

    public var parameters: [Parameter] { [table] }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ ids: B.Value) throws -> B.Value {
        try b.scoped(name) { b in try b.apply(Gather(), [b.read(table), ids])[0] }
    }
}

/// Multi-head self-attention built from catalogue ops: x [B, S, E] → softmax(QKᵀ/√d)·V with
/// `heads` heads of d = E/heads, then an output projection. Q, K, V and the output are Dense
/// layers (`<name>.q`, `.k`, `.v`, `.out`).
public final class MultiHeadAttention: Layer {
    public let name: String
    public let heads: Int
    public let q: Dense, k: Dense, v: Dense, out: Dense

    public init(embedding: Int, heads: Int, name: String, _ ctx: LayerContext) throws {
        guard heads > 0, embedding % heads == 0 else {
            throw TrainError("\(name): embedding size \(embedding) must be a multiple of the number of heads \(heads)")
        }
        self.name = name
        self.heads = heads
        q = try Dense(embedding, embedding, name: "\(name).q", ctx)
        k = try Dense(embedding, embedding, name: "\(name).k", ctx)
        v = try Dense(embedding, embedding, name: "\(name).v", ctx)
        out = try Dense(embedding, embedding, name: "\(name).out", ctx)
    }

    public var parameters: [Parameter] { q.parameters + k.parameters + v.parameters + out.parameters }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        let shape = b.type(of: x).shape
        guard shape.rank == 3 else { throw TrainError("\(name): input must be [batch, sequence, embedding], got \(shape)") }
        let (n, s, e) = (shape[0], shape[1], shape[2]), d = e / heads
        return try b.scoped(name) { b in
            let rows = try b.op(Reshape(shape: [n * s, e]), [x])
            func split(_ layer: Dense) throws -> B.Value {  // [B·S, E] → [B, H, S, d]
                let projected = try layer(&b, rows)
                return try b.op(Transpose(perm: [0, 2, 1, 3]), [try b.op(Reshape(shape: [n, s, heads, d]), [projected])])
            }
            let (qh, kh, vh) = (try split(q), try split(k), try split(v))
            let raw = try b.op(BatchMatMul(transposeB: true, precision: b.cubePrecision), [try b.cubeInput(qh), try b.cubeInput(kh)])
            let scores = try b.op(Mul(), [raw, b.scalarConstant(1 / Float(d).squareRoot())])
            let attention = try b.op(Softmax(axis: -1), [scores])
            let context = try b.op(BatchMatMul(precision: b.cubePrecision), [try b.cubeInput(attention), try b.cubeInput(vh)])  // [B, H, S, d]
            let merged = try b.op(Reshape(shape: [n * s, e]), [try b.op(Transpose(perm: [0, 2, 1, 3]), [context])])
            return try b.op(Reshape(shape: [n, s, e]), [try out(&b, merged)])
        }
    }
}

/// A pre-norm transformer block: x + MHA(LN(x)), then + FFN(LN(·)) with FFN = Dense(E, 4E), GELU,
/// Dense(4E, E).
public final class TransformerBlock: Layer {
    public let name: String
    public let norm1: LayerNormLayer, attention: MultiHeadAttention, norm2: LayerNormLayer, up: Dense, down: Dense

    public init(embedding: Int, heads: Int, name: String, _ ctx: LayerContext) throws {
        self.name = name
        norm1 = try LayerNormLayer([embedding], name: "\(name).norm1", ctx)
        attention = try MultiHeadAttention(embedding: embedding, heads: heads, name: "\(name).attention", ctx)
        norm2 = try LayerNormLayer([embedding], name: "\(name).norm2", ctx)
        up = try Dense(embedding, 4 * embedding, name: "\(name).ffn.up", ctx)
        down = try Dense(4 * embedding, embedding, name: "\(name).ffn.down", ctx)
    }

    public var parameters: [Parameter] {
        norm1.parameters + attention.parameters + norm2.parameters + up.parameters + down.parameters
    }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        let shape = b.type(of: x).shape
        let h = try b.op(Add(), [x, try attention(&b, try norm1(&b, x))])
        let rows = try b.op(Reshape(shape: [shape[0] * shape[1], shape[2]]), [try norm2(&b, h)])
        let ffn = try down(&b, try b.op(GeLU(), [try up(&b, rows)]))
        return try b.op(Add(), [h, try b.op(Reshape(shape: shape.dims), [ffn])])
    }
}
