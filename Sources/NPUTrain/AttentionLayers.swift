import Foundation
import NPUOps
import NPURandom
import NPUTensor

/// `nn.Embedding(vocab_size, embedding_size)`: a table [vocab, size] initialised Normal(0.01);
/// int32 ids [...] → [..., size]. Its gradient is Gather's planned scatter-add.
public final class Embedding: Layer {
    public var cellClass: String? { "Embedding" }
    public var namesItself: Bool { true }
    public let name: String
    public let table: Parameter

    public init(_ vocabSize: Int, _ embeddingSize: Int, name: String, _ ctx: LayerContext) throws {
        self.name = name
        table = try ctx.parameter("\(name).embedding_table", [vocabSize, embeddingSize], .normal())
    }

    public var parameters: [Parameter] { [table] }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ ids: B.Value) throws -> B.Value {
        try b.scoped(name, cell: "Embedding") { b in try b.apply(Gather(), [b.read(table), ids])[0] }
    }
}

/// Multi-head self-attention built from catalogue ops: x [B, S, E] → softmax(QKᵀ/√d)·V with
/// `heads` heads of d = E/heads, then an output projection. Q, K, V and the output are Dense
/// layers (`<name>.q`, `.k`, `.v`, `.out`).
public final class MultiHeadAttention: Layer {
    public var cellClass: String? { "MultiHeadAttention" }
    public var namesItself: Bool { true }
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
        let shape = try attentionInputShape(&b, x, name)
        let (n, s, e) = (shape[0], shape[1], shape[2])
        return try b.scoped(name, cell: "MultiHeadAttention") { b in
            let rows = try b.op(Reshape(shape: [n * s, e]), [x])
            let context = try scaledDotProductAttention(&b, q: try q(&b, rows), k: try k(&b, rows), v: try v(&b, rows), batch: n, sequence: s, heads: heads)
            return try b.op(Reshape(shape: [n, s, e]), [try out(&b, context)])
        }
    }
}

/// The [batch, sequence, embedding] shape of an attention layer's input.
func attentionInputShape<B: ModelBuilder>(_ b: inout B, _ x: B.Value, _ name: String) throws -> Shape {
    let shape = b.type(of: x).shape
    guard shape.rank == 3 else { throw TrainError("\(name): input must be [batch, sequence, embedding], got \(shape)") }
    return shape
}

/// Multi-head attention on projected rows [B·S, E] of q, k and v: heads of d = E/heads,
/// softmax(QKᵀ/√d)·V per head, merged back to rows [B·S, E].
func scaledDotProductAttention<B: ModelBuilder>(_ b: inout B, q: B.Value, k: B.Value, v: B.Value, batch n: Int, sequence s: Int, heads: Int) throws -> B.Value {
    let e = b.type(of: q).shape[1], d = e / heads
    func split(_ rows: B.Value) throws -> B.Value {  // [B·S, E] → [B, H, S, d]
        try b.op(Transpose(perm: [0, 2, 1, 3]), [try b.op(Reshape(shape: [n, s, heads, d]), [rows])])
    }
    let (qh, kh, vh) = (try split(q), try split(k), try split(v))
    let raw = try b.product(BatchMatMul(transposeB: true, precision: b.cubePrecision), [qh, kh], bias: nil)
    let scores = try b.op(Mul(), [raw, b.scalarConstant(1 / Float(d).squareRoot())])
    let attention = try b.op(Softmax(axis: -1), [scores])
    let context = try b.product(BatchMatMul(precision: b.cubePrecision), [attention, vh], bias: nil)  // [B, H, S, d]
    return try b.op(Reshape(shape: [n * s, e]), [try b.op(Transpose(perm: [0, 2, 1, 3]), [context])])
}

/// MindSpore's `nn.MultiheadAttention(embed_dim, num_heads, has_bias=True, batch_first=True)` as
/// self-attention (query, key and value the input [batch, sequence, embed_dim]) returning the
/// attention output. Parameters as MindSpore creates them, in its order: `in_proj_weight`
/// [3E, E] XavierUniform, `in_proj_bias` [3E] zeros, then `out_proj` a Dense(E, E)
/// (HeUniform(√5), Uniform(1/√E)). The in-projection is one MatMul whose rows split into q, k, v.
public final class MultiheadAttentionLayer: Layer {
    public var cellClass: String? { "MultiheadAttention" }
    public var namesItself: Bool { true }
    public let name: String
    public let heads: Int
    public let inProjWeight: Parameter, inProjBias: Parameter?
    public let outProj: Dense

    /// - Throws: `TrainError` unless `embedDim` is a multiple of `numHeads`.
    public init(embedDim: Int, numHeads: Int, hasBias: Bool = true, name: String, _ ctx: LayerContext) throws {
        guard numHeads > 0, embedDim > 0, embedDim % numHeads == 0 else {
            throw TrainError("\(name): embed_dim \(embedDim) must be a positive multiple of num_heads \(numHeads)")
        }
        self.name = name
        heads = numHeads
        inProjWeight = try ctx.parameter("\(name).in_proj_weight", [3 * embedDim, embedDim], .xavierUniform())
        inProjBias = hasBias ? try ctx.parameter("\(name).in_proj_bias", [3 * embedDim], .zero) : nil
        outProj = try Dense(embedDim, embedDim, hasBias: hasBias, name: "\(name).out_proj", ctx)
    }

    public var parameters: [Parameter] { [inProjWeight] + (inProjBias.map { [$0] } ?? []) + outProj.parameters }

    public func callAsFunction<B: ModelBuilder>(_ b: inout B, _ x: B.Value) throws -> B.Value {
        let shape = try attentionInputShape(&b, x, name)
        let (n, s, e) = (shape[0], shape[1], shape[2])
        return try b.scoped(name, cell: "MultiheadAttention") { b in
            let rows = try b.op(Reshape(shape: [n * s, e]), [x])
            let qkv = try b.product(MatMul(transposeB: true, precision: b.cubePrecision), [rows, b.read(inProjWeight)], bias: inProjBias.map { try b.read($0) })
            func part(_ k: Int) throws -> B.Value { try b.op(Slice(begin: [0, k * e], size: [n * s, e]), [qkv]) }
            let context = try scaledDotProductAttention(&b, q: try part(0), k: try part(1), v: try part(2), batch: n, sequence: s, heads: heads)
            return try b.op(Reshape(shape: [n, s, e]), [try outProj(&b, context)])
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
