import NPUDevice
import NPUTensor

/// MindSpore's comparisons (`Greater`, `GreaterEqual`, `Less`, `LessEqual`, `Equal`,
/// `NotEqual`): two tensors of one numeric dtype, broadcast; a bool tensor. No gradient.
public struct Compare: OpDef, Equatable {
    public enum Kind: String, CaseIterable, Sendable {
        case greater = "Greater", greaterEqual = "GreaterEqual", less = "Less", lessEqual = "LessEqual", equal = "Equal", notEqual = "NotEqual"

        func holds(_ a: Double, _ b: Double) -> Bool {
            switch self {
            case .greater: a > b
            case .greaterEqual: a >= b
            case .less: a < b
            case .lessEqual: a <= b
            case .equal: a == b
            case .notEqual: a != b
            }
        }
    }

    public let kind: Kind
    public init(_ kind: Kind) { self.kind = kind }
    public var type: String { kind.rawValue }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 2)
        guard inputs[0].dtype == inputs[1].dtype, inputs[0].dtype != .bool || [.equal, .notEqual].contains(kind) else {
            throw OpError(type, "compares two tensors of one numeric dtype, got \(inputs[0].dtype) and \(inputs[1].dtype) (cast one first)")
        }
        guard let shape = broadcastShapes(inputs[0].shape, inputs[1].shape) else {
            throw OpError(type, "shapes \(inputs[0].shape) and \(inputs[1].shape) do not broadcast")
        }
        return [TensorType(.bool, shape)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let shape = broadcastShapes(inputs[0].shape, inputs[1].shape)!
        // Doubles hold every float32, int32 and (below 2^53) int64 exactly.
        let a = inputs[0].doubles(), b = inputs[1].doubles()
        var flags = [Bool](repeating: false, count: shape.count)
        forEachBroadcast(shape, broadcastStrides(inputs[0].shape, to: shape), broadcastStrides(inputs[1].shape, to: shape)) { k, ia, ib in
            flags[k] = kind.holds(a[ia], b[ib])
        }
        return [try! Tensor(shape: shape, values: flags)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let infos: [OpInfo] = Kind.allCases.map { kind in
        OpInfo(type: kind.rawValue, summary: "x \(kind) y elementwise (broadcasting): bool", hasBackward: false, plannedReductions: []) {
            // A row of y equal to x's first row, so that ties are sampled.
            let x = sampleTensor([3, 4]), y = try! Tensor(shape: [4], values: Array((try! x.toArray(of: Float.self)).prefix(4)))
            return OpSample(Compare(kind), [x, y], gradientInputs: []) { i in
                [(0..<12).map { kind.holds(i[0][$0], i[1][$0 % 4]) ? 1 : 0 }]
            }
        }
    }
}

/// `ops.select(cond, x, y)`: x where cond, else y (cond bool; x and y float32; all broadcast to
/// one shape). The gradient goes to x where cond, to y elsewhere.
public struct Select: OpDef, Equatable {
    public init() {}
    public var type: String { "Select" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 3)
        guard inputs[0].dtype == .bool else { throw OpError(type, "cond must be bool, got \(inputs[0].dtype)") }
        try expectFloat(inputs, 1, "x")
        try expectFloat(inputs, 2, "y")
        guard let xy = broadcastShapes(inputs[1].shape, inputs[2].shape), let shape = broadcastShapes(inputs[0].shape, xy) else {
            throw OpError(type, "shapes \(inputs[0].shape), \(inputs[1].shape) and \(inputs[2].shape) do not broadcast")
        }
        return [TensorType(.float32, shape)]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let shape = try infer(inputs.map(\.type))[0].shape
        let c = inputs[0].doubles(), x = try! inputs[1].toArray(of: Float.self), y = try! inputs[2].toArray(of: Float.self)
        let sc = broadcastStrides(inputs[0].shape, to: shape), sx = broadcastStrides(inputs[1].shape, to: shape)
        let sy = broadcastStrides(inputs[2].shape, to: shape)
        var out = [Float](repeating: 0, count: shape.count)
        var index = [Int](repeating: 0, count: shape.rank)
        for k in 0..<shape.count {
            var (ic, ix, iy) = (0, 0, 0)
            for d in 0..<shape.rank { (ic, ix, iy) = (ic + index[d] * sc[d], ix + index[d] * sx[d], iy + index[d] * sy[d]) }
            out[k] = c[ic] != 0 ? x[ix] : y[iy]
            var d = shape.rank - 1
            while d >= 0 {
                index[d] += 1
                if index[d] < shape[d] { break }
                index[d] = 0
                d -= 1
            }
        }
        return [try! Tensor(shape: shape, values: out)]
    }

    public func backward<B: GradBuilder>(_ b: inout B, _ x: [B.Value], _ y: [B.Value], _ g: [B.Value]) throws(OpError) -> [B.Value?] {
        let zeros = b.constant(Tensor(zeros: b.type(of: g[0]).shape))
        let dx = try b.one(Select(), [x[0], g[0], zeros]), dy = try b.one(Select(), [x[0], zeros, g[0]])
        return [nil, try b.unbroadcast(dx, to: b.type(of: x[1]).shape), try b.unbroadcast(dy, to: b.type(of: x[2]).shape)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "Select", summary: "x where cond, else y (broadcasting)", hasBackward: true, plannedReductions: []) {
        let cond = try! Tensor(shape: [2, 3], values: [true, false, true, false, false, true])
        return OpSample(Select(), [cond, sampleTensor([2, 3]), sampleTensor([3], seed: 4)]) { i in
            [(0..<6).map { i[0][$0] != 0 ? i[1][$0] : i[2][$0 % 3] }]
        }
    }
}

/// `ops.Argmax(axis)`: the index of the largest value along `axis` (the first on ties; NaN counts
/// as largest, as numpy and MindSpore's CPU kernel do), int32.
public struct ArgMax: OpDef, Equatable {
    public let axis: Int
    public init(axis: Int = -1) { self.axis = axis }
    public var type: String { "Argmax" }

    public func infer(_ inputs: [TensorType]) throws(OpError) -> [TensorType] {
        try expectInputs(inputs, 1)
        let s = inputs[0].shape
        guard s.rank >= 1, (-s.rank..<s.rank).contains(axis) else { throw OpError(type, "axis \(axis) is outside a tensor of rank \(s.rank)") }
        guard s[(axis + s.rank) % s.rank] > 0 else { throw OpError(type, "the axis is empty in \(s)") }
        guard [.float32, .int32, .int64].contains(inputs[0].dtype) else { throw OpError(type, "takes float32, int32 or int64, got \(inputs[0].dtype)") }
        var dims = s.dims
        dims.remove(at: (axis + s.rank) % s.rank)
        return [TensorType(.int32, Shape(dims))]
    }

    public func forward(_ inputs: [Tensor], _ ctx: KernelContext) throws(OpError) -> [Tensor] {
        let s = inputs[0].shape, a = (axis + s.rank) % s.rank
        let outer = s.dims[..<a].reduce(1, *), n = s[a], inner = s.dims[(a + 1)...].reduce(1, *)
        let v = inputs[0].doubles()
        var out = [Int32](repeating: 0, count: outer * inner)
        for o in 0..<outer {
            for i in 0..<inner {
                var best = 0, value = v[o * n * inner + i]
                for k in 1..<n where !value.isNaN {
                    let c = v[(o * n + k) * inner + i]
                    if c > value || c.isNaN { (best, value) = (k, c) }
                }
                out[o * inner + i] = Int32(best)
            }
        }
        return [try! Tensor(shape: try infer([inputs[0].type])[0].shape, values: out)]
    }

    public func work(_ inputs: [TensorType], _ outputs: [TensorType]) -> Work { elementwiseWork(inputs, outputs) }

    static let info = OpInfo(type: "Argmax", summary: "index of the largest value along an axis (first on ties), int32", hasBackward: false,
                             plannedReductions: []) {
        OpSample(ArgMax(axis: 1), [try! Tensor(shape: [2, 4], values: [Float(1), 3, 3, 2, -1, -5, -1, -2])], gradientInputs: []) { _ in [[1, 0]] }
    }
}
