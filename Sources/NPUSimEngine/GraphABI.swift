import Foundation
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor

// Graph mode through the ABI: a front end traces a function into a graph (inputs, parameters,
// constants, ops, gradients by the engine's reverse mode, assignments), compiles it once and runs
// it as a step on the simulated card, as MindSpore's `jit` and GRAPH_MODE do. Values are ids:
// node · 64 + output index.

/// A traced graph, the parameters it reads (their values, kept between steps), and once compiled
/// the executor.
final class GraphBox {
    var graph = Graph()
    let store = ParameterStore()
    let device: Device
    let planner: ReductionPlanner
    var compiled: CompiledGraph?
    var inputs: [String] = []

    init(device: Device, planner: ReductionPlanner) { (self.device, self.planner) = (device, planner) }

    func value(_ id: Int64) throws -> GraphValue {
        let v = GraphValue(node: Int(id / 64), index: Int(id % 64))
        guard id >= 0, graph.nodes.indices.contains(v.node), graph.nodes[v.node].outputTypes.indices.contains(v.index) else {
            throw ABIError(message: "no graph value \(id)")
        }
        return v
    }

    static func id(_ v: GraphValue) -> Int64 { Int64(v.node * 64 + v.index) }

    func building() throws {
        guard compiled == nil else { throw ABIError(message: "the graph is compiled; a new trace makes a new graph") }
    }
}

private func graphBox(_ handle: OpaquePointer?) throws -> GraphBox {
    guard let handle else { throw ABIError(message: "the graph handle is null") }
    return Unmanaged<GraphBox>.fromOpaque(UnsafeRawPointer(handle)).takeUnretainedValue()
}

/// A new graph whose steps run on the PyNative context `eager`'s card, with its reduction policy
/// and order stream (graph mode and PyNative of one script share the card, as on a real one).
@_cdecl("npusim_graph_new")
public func npusim_graph_new(_ eager: OpaquePointer?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        guard let eager, let out else { throw ABIError(message: "the PyNative context or out pointer is null") }
        let context = Unmanaged<EagerBox>.fromOpaque(UnsafeRawPointer(eager)).takeUnretainedValue().context
        out.pointee = OpaquePointer(Unmanaged.passRetained(GraphBox(device: context.device, planner: context.planner)).toOpaque())
    }
}

/// Releases a graph.
@_cdecl("npusim_graph_free")
public func npusim_graph_free(_ handle: OpaquePointer?) {
    guard let handle else { return }
    Unmanaged<GraphBox>.fromOpaque(UnsafeRawPointer(handle)).release()
}

/// An input fed every step: `name`, dtype code and shape.
@_cdecl("npusim_graph_input")
public func npusim_graph_input(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ dtype: Int32, _ dims: UnsafePointer<Int64>?,
                               _ ndim: Int32, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard let name, let out else { throw ABIError(message: "the name or out pointer is null") }
        guard dtypes.indices.contains(Int(dtype)) else { throw ABIError(message: "dtype code \(dtype) is not 0…4") }
        let key = String(cString: name)
        guard !g.inputs.contains(key) else { throw ABIError(message: "the graph has an input '\(key)' already") }
        g.inputs.append(key)
        out.pointee = GraphBox.id(g.graph.input(key, TensorType(dtypes[Int(dtype)], try shape(dims, ndim))))
    }
}

/// A parameter read every step from the graph's store, which starts with `value`; `name`
/// identifies it (assignments write it back).
@_cdecl("npusim_graph_parameter")
public func npusim_graph_parameter(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: OpaquePointer?,
                                   _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard let name, let out else { throw ABIError(message: "the name or out pointer is null") }
        let key = String(cString: name), t = try box(value).tensor
        guard g.store[key] == nil else { throw ABIError(message: "the graph reads a parameter '\(key)' already") }
        g.store[key] = t
        out.pointee = GraphBox.id(g.graph.parameter(key, t.type))
    }
}

/// A constant (the tensor's current value).
@_cdecl("npusim_graph_constant")
public func npusim_graph_constant(_ handle: OpaquePointer?, _ value: OpaquePointer?, _ out: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard let out else { throw ABIError(message: "the out pointer is null") }
        out.pointee = GraphBox.id(g.graph.constant(try box(value).tensor))
    }
}

/// Adds op `type` with JSON `attributes` (as `npusim_eager_op` takes them) on `count` values; its
/// outputs' ids (at most `room`) into `outputs`, their number into `produced`.
/// - Fails (bad input) when the op cannot take the values' types, naming the node and the types.
@_cdecl("npusim_graph_op")
public func npusim_graph_op(_ handle: OpaquePointer?, _ type: UnsafePointer<CChar>?, _ attributes: UnsafePointer<CChar>?,
                            _ inputs: UnsafePointer<Int64>?, _ count: Int32, _ outputs: UnsafeMutablePointer<Int64>?, _ room: Int32,
                            _ produced: UnsafeMutablePointer<Int32>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard let type, let outputs, let produced, count >= 0, count == 0 || inputs != nil else {
            throw ABIError(message: "the op type, inputs, outputs or count pointer is null")
        }
        let op = try makeOp(String(cString: type), attributes.map { String(cString: $0) } ?? "{}")
        let values = try (0..<Int(count)).map { try g.value(inputs![$0]) }
        let outs = try g.graph.apply(op, values)
        guard outs.count <= Int(room) else { throw ABIError(message: "\(op.type) has \(outs.count) outputs; room for \(room)") }
        for (k, v) in outs.enumerated() { outputs[k] = GraphBox.id(v) }
        produced.pointee = Int32(outs.count)
    }
}

/// A value's dtype code and dimensions (room for 32).
@_cdecl("npusim_graph_type")
public func npusim_graph_type(_ handle: OpaquePointer?, _ value: Int64, _ dtype: UnsafeMutablePointer<Int32>?, _ ndim: UnsafeMutablePointer<Int32>?,
                              _ dims: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        guard let dtype, let ndim, let dims else { throw ABIError(message: "an out pointer is null") }
        let t = g.graph.type(of: try g.value(value))
        guard t.shape.rank <= 32 else { throw ABIError(message: "a value of rank \(t.shape.rank)") }
        dtype.pointee = Int32(dtypes.firstIndex(of: t.dtype)!)
        ndim.pointee = Int32(t.shape.rank)
        for (k, d) in t.shape.dims.enumerated() { dims[k] = Int64(d) }
    }
}

/// Adds the nodes of d`loss`/d`wrt` (the engine's reverse mode over the ops so far, seeded with
/// `sens`); their ids into `grads` (a value the loss does not depend on gets a zeros constant).
@_cdecl("npusim_graph_gradients")
public func npusim_graph_gradients(_ handle: OpaquePointer?, _ loss: Int64, _ wrt: UnsafePointer<Int64>?, _ count: Int32, _ sens: Float,
                                   _ grads: UnsafeMutablePointer<Int64>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard count >= 0, count == 0 || (wrt != nil && grads != nil) else { throw ABIError(message: "the wrt or grads pointer is null") }
        let targets = try (0..<Int(count)).map { try g.value(wrt![$0]) }
        let found = try g.graph.gradients(of: try g.value(loss), wrt: targets, lossScale: sens)
        for (k, (t, v)) in zip(targets, found).enumerated() {
            let type = g.graph.type(of: t)
            grads![k] = GraphBox.id(v ?? g.graph.constant(Tensor(zeros: type.shape, dtype: type.dtype)))
        }
    }
}

/// Writes `value` into parameter `name` at the end of every step.
@_cdecl("npusim_graph_assign")
public func npusim_graph_assign(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: Int64) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard let name else { throw ABIError(message: "the name is null") }
        try g.graph.assign(String(cString: name), try g.value(value))
    }
}

/// Compiles the graph once, to fetch the `count` values `fetches` every step.
/// - Fails when the step does not fit the card's HBM (naming its largest buffers).
@_cdecl("npusim_graph_compile")
public func npusim_graph_compile(_ handle: OpaquePointer?, _ fetches: UnsafePointer<Int64>?, _ count: Int32) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        try g.building()
        guard count >= 0, count == 0 || fetches != nil else { throw ABIError(message: "the fetches pointer is null") }
        let values = try (0..<Int(count)).map { try g.value(fetches![$0]) }
        g.compiled = try CompiledGraph(g.graph, fetches: values, device: g.device, store: g.store, planner: g.planner,
                                       kernels: KernelOptions(fusion: g.device.spec.ubFusion ? .buffer : .none))
        if let o = Observation.current { g.compiled!.observer = { o.observe(card: 0, $0) } }
    }
}

/// Runs one step launched by the host: `count` feeds, one per input in the order they were
/// added; the fetched values as new tensor handles in `outputs` (one per fetch).
@_cdecl("npusim_graph_run")
public func npusim_graph_run(_ handle: OpaquePointer?, _ feeds: UnsafePointer<OpaquePointer?>?, _ count: Int32,
                             _ outputs: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        guard let compiled = g.compiled else { throw ABIError(message: "the graph is not compiled") }
        guard Int(count) == g.inputs.count, count == 0 || feeds != nil else {
            throw ABIError(message: "the graph takes \(g.inputs.count) feeds (\(g.inputs.joined(separator: ", "))), got \(count)")
        }
        var named: [String: Tensor] = [:]
        for (k, name) in g.inputs.enumerated() { named[name] = try box(feeds![k]).tensor }
        let fetched = try compiled.step(named)
        guard fetched.isEmpty || outputs != nil else { throw ABIError(message: "the outputs pointer is null") }
        for (k, t) in fetched.enumerated() { outputs![k] = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque()) }
    }
}

/// Parameter `name`'s current value (a new tensor handle).
@_cdecl("npusim_graph_get_parameter")
public func npusim_graph_get_parameter(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        guard let name, let out else { throw ABIError(message: "the name or out pointer is null") }
        let key = String(cString: name)
        guard let t = g.store[key] else { throw ABIError(message: "the graph reads no parameter '\(key)'") }
        out.pointee = OpaquePointer(Unmanaged.passRetained(TensorBox(t)).toOpaque())
    }
}

/// Sets parameter `name` (a value the front end changed between steps).
@_cdecl("npusim_graph_set_parameter")
public func npusim_graph_set_parameter(_ handle: OpaquePointer?, _ name: UnsafePointer<CChar>?, _ value: OpaquePointer?) -> Int32 {
    guarded {
        let g = try graphBox(handle)
        guard let name else { throw ABIError(message: "the name is null") }
        let key = String(cString: name), t = try box(value).tensor
        guard let want = g.store.type(of: key) else { throw ABIError(message: "the graph reads no parameter '\(key)'") }
        guard t.type == want else { throw ABIError(message: "parameter '\(key)' is \(want) in the graph, the value given is \(t.type)") }
        g.store[key] = t
    }
}
