import NPUDevice
import NPUOps
import NPUTensor

/// How a compiled graph's ops become the card's kernels (Docs/DeviceModel.md, "Fusion").
/// Numerics never change: the host still computes op by op; only the tasks and their work do.
public enum FusionLevel: String, Sendable, Hashable, CaseIterable {
    /// Every op is a kernel of its own (a device without Ascend's graph compiler).
    case none
    /// The Ascend backend as MindSpore's graph mode always runs it: BatchNorm split into its
    /// reduce and update kernels, and the buffer (UB) fusion patterns.
    case buffer
    /// `buffer` plus MindSpore's graph-kernel fusion (`enable_graph_kernel=True`): connected
    /// vector ops of any kind form one kernel.
    case graphKernel = "graph_kernel"
}

/// What the kernel planner needs besides the graph.
public struct KernelOptions: Sendable, Hashable {
    public var fusion: FusionLevel
    /// The precision activations (and their gradients) are stored in on the card: float16 under
    /// amp O2 and O3, where MindSpore casts the network to float16; parameters, their gradients
    /// and the optimizer stay float32.
    public var activations: Precision

    public init(fusion: FusionLevel = .none, activations: Precision = .float32) {
        self.fusion = fusion
        self.activations = activations
    }
}

/// One kernel a compiled step launches: one op's, one part of a split op's, or a fused group's.
struct PlannedKernel {
    /// The instance name (`layer1.0.conv1/Conv2D`, or the fused kernel's).
    var name: String
    /// The op type, `FusionOp_Conv2D_BNTrainingReduce` for a fused kernel.
    var type: String
    /// MindSpore's full name (nil: the node's own).
    var fullName: String?
    var work: Work
    /// The op instances a fused kernel contains (empty for a kernel of one op).
    var fusedOps: [String]
    /// The group its host time and reduction plans are gathered in.
    var group: Int
    /// The nodes it computes (or computes a part of), in launch order.
    var members: [Int]
}

/// The kernels of a compiled graph, by the node after which each is launched.
struct KernelPlan {
    var launches: [[PlannedKernel]]
    /// The group each node's host time and plans go to (nil: a node that launches nothing).
    var groupOf: [Int?]
}

/// One kernel's worth of an op: most ops have one; BatchNorm and its gradient have two on Ascend.
private struct Piece {
    var node: Int
    var part: Int
    var type: String
    var work: Work
    var reads: [GraphValue]
    var writes: [GraphValue]
    var kind: Kind

    enum Kind: Equatable { case cube(String), eltwise, bnReduce, bnUpdate, bnGrad, reduce, other }
}

/// A fused group being formed.
private struct Group {
    var members: [Int]  // piece indices
    var head: Piece.Kind
    var headType: String
    /// The piece after which the fused kernel launches.
    var launch: Int
    var eltwise = 0
}

/// Ops the Ascend toolchain treats as elementwise or broadcast (fusion type `ELEMWISE`/`BROADCAST`).
private let elementwiseTypes: Set<String> = [
    "Add", "Sub", "Mul", "Div", "Maximum", "Minimum", "Pow", "ReLU", "ReluGrad", "GeLU", "GeLUGrad", "Sigmoid", "SigmoidGrad",
    "Tanh", "TanhGrad", "Exp", "Log", "Neg", "Sqrt", "Rsqrt", "Cast", "BiasAdd", "Dropout", "DropoutGrad", "Select",
]
private let reduceTypes: Set<String> = ["ReduceSum", "ReduceMean", "ReduceMax"]
/// Vector ops that graph-kernel fusion expands into basic ops and clusters with their neighbours.
private let compositeTypes: Set<String> = ["LayerNorm", "LayerNormGrad", "Softmax", "LogSoftmax", "SoftmaxCrossEntropyWithLogits",
                                           "SoftmaxCrossEntropyGrad", "BiasAddGrad"]

extension CompiledGraph {
    /// The kernels the card runs for this graph: one per launching op without fusion; with it,
    /// the Ascend compiler's splits and fusions (Docs/DeviceModel.md, "Fusion"). `works` holds
    /// each node's declared work, already charged for its reduction policy.
    static func planKernels(_ graph: Graph, schedule: [Int], folded: [Int: [Tensor]], works: [Work?], fetches: [GraphValue],
                            options: KernelOptions) -> KernelPlan {
        let nodes = graph.nodes
        // A read of a view (Reshape, the cube's widened float16 operand) is a read of the value it views.
        var owner = viewOwners(graph, schedule: schedule, folded: folded)
        /// Through views and dropped casts (a view of a dropped cast takes two steps).
        func root(_ v: GraphValue) -> GraphValue {
            var r = v
            while let o = owner[r] { r = o }
            return r
        }
        func type(_ v: GraphValue) -> TensorType { nodes[v.node].outputTypes[v.index] }
        // Under O2/O3 a float32 value is float16 on the card unless it is float32 master data:
        // a parameter, a gradient the step takes, or computed from those alone (the optimizer).
        var master = Set<Int>()
        do {
            let gradientNodes = Set(graph.gradientValues.map(\.node))
            for i in schedule {
                switch nodes[i].kind {
                case .parameter, .constant: master.insert(i)
                case .op where gradientNodes.contains(i): master.insert(i)
                case .op where !nodes[i].inputs.isEmpty && nodes[i].inputs.allSatisfy({ master.contains(root($0).node) }): master.insert(i)
                default: break
                }
            }
        }
        func elementBytes(_ v: GraphValue) -> Double {
            let r = root(v), t = type(r)
            if t.dtype == .float32, options.activations != .float32, !master.contains(r.node), case .op = nodes[r.node].kind { return 2 }
            return Double(t.dtype.size)
        }
        func cardBytes(_ v: GraphValue) -> Double { Double(type(root(v)).shape.count) * elementBytes(v) }
        func graphBytes(_ v: GraphValue) -> Double { Double(type(v).shape.count * type(v).dtype.size) }

        // Pieces, in launch order.
        var pieces: [Piece] = []
        var planned = Set<Int>()  // nodes with pieces, or a Cast dropped under O2
        for i in schedule {
            // Collectives between cards run on the comm stream (`runCollective`), not as kernels.
            guard case .op(let op) = nodes[i].kind, folded[i] == nil, ((op as? any CollectiveOp)?.cards ?? 1) <= 1,
                  let charged = works[i] else { continue }
            let n = nodes[i]
            let outs = n.outputTypes.indices.map { GraphValue(node: i, index: $0) }
            // Under O2 a Cast between two float16 values exists only in the host's graph.
            if options.activations != .float32, op is Cast, n.inputs.count == 1, elementBytes(n.inputs[0]) == elementBytes(outs[0]) {
                owner[outs[0]] = root(n.inputs[0])
                planned.insert(i)
                continue
            }
            var made: [Piece] = []
            if options.fusion != .none, let bn = op as? BatchNorm, bn.isTraining {
                // Ascend splits a training BatchNorm (MindSpore's bn_split pass): BNTrainingReduce
                // reads x for the sums; BNTrainingUpdate reads x again and writes y and the statistics.
                let x = n.inputs[0], count = Double(type(x).shape.count), c = Double(type(x).shape[1])
                let plain = op.work(n.inputs.map(type), n.outputTypes)
                let (extraFlops, extraBytes) = (max(0, charged.flops - plain.flops), max(0, charged.bytes - plain.bytes))
                made.append(Piece(node: i, part: 0, type: "BNTrainingReduce",
                                  work: Work(flops: 3 * count + extraFlops, bytes: graphBytes(x) + 8 * c + extraBytes, unit: .vector,
                                             tiling: .elements(Int(c))),
                                  reads: [x], writes: [], kind: .bnReduce))
                made.append(Piece(node: i, part: 1, type: "BNTrainingUpdate",
                                  work: Work(flops: 5 * count, bytes: graphBytes(x) + graphBytes(outs[0]) + 24 * c, unit: .vector,
                                             tiling: .elements(Int(count))),
                                  reads: n.inputs, writes: outs, kind: .bnUpdate))
            } else if options.fusion != .none, op is BatchNormGrad {
                // bn_grad_split: BNTrainingUpdateGrad reduces dy and dy·x̂ (dgamma, dbeta);
                // BNTrainingReduceGrad reads dy and x again and writes dx.
                let dy = n.inputs[0], x = n.inputs[1], count = Double(type(x).shape.count), c = Double(type(x).shape[1])
                let plain = op.work(n.inputs.map(type), n.outputTypes)
                let (extraFlops, extraBytes) = (max(0, charged.flops - plain.flops), max(0, charged.bytes - plain.bytes))
                made.append(Piece(node: i, part: 0, type: "BNTrainingUpdateGrad",
                                  work: Work(flops: 4 * count + extraFlops, bytes: graphBytes(dy) + graphBytes(x) + 8 * c + extraBytes,
                                             unit: .vector, tiling: .elements(Int(c))),
                                  reads: [dy, x], writes: Array(outs.dropFirst()), kind: .bnGrad))
                made.append(Piece(node: i, part: 1, type: "BNTrainingReduceGrad",
                                  work: Work(flops: 6 * count, bytes: graphBytes(dy) + graphBytes(x) + graphBytes(outs[0]) + 16 * c,
                                             unit: .vector, tiling: .elements(Int(count))),
                                  reads: n.inputs, writes: [outs[0]], kind: .bnGrad))
            } else {
                let kind: Piece.Kind
                if charged.unit == .cube { kind = .cube(op.type) }
                else if elementwiseTypes.contains(op.type) { kind = .eltwise }
                else if reduceTypes.contains(op.type) { kind = .reduce }
                else { kind = .other }
                made.append(Piece(node: i, part: 0, type: op.type, work: charged, reads: n.inputs, writes: outs, kind: kind))
            }
            planned.insert(i)
            pieces += made
        }

        // Who reads each (root) value: pieces, and the places a value leaves the kernels
        // (collectives, which launch on another stream at their position).
        let position = Dictionary(uniqueKeysWithValues: schedule.enumerated().map { ($1, $0) })
        var readers: [GraphValue: [Int]] = [:]  // piece indices
        for (k, p) in pieces.enumerated() { for v in Set(p.reads.map(root)) { readers[v, default: []].append(k) } }
        var outside: [GraphValue: [Int]] = [:]  // schedule positions of non-kernel readers that order launches
        var escapes = Set<GraphValue>()  // read by something that is not a kernel (fetch, assign, collective)
        for f in schedule where !planned.contains(f) {
            let n = nodes[f]
            if case .op(let op) = n.kind, !op.launchesKernel || folded[f] != nil { continue }  // a view: its readers read the root
            for v in n.inputs {
                let r = root(v)
                escapes.insert(r)  // assigned, or sent by a collective
                if case .op = n.kind { outside[r, default: []].append(position[f]!) }  // a collective launches there
            }
        }
        for f in fetches { escapes.insert(root(f)) }
        var writer: [GraphValue: Int] = [:]
        for (k, p) in pieces.enumerated() { for v in p.writes { writer[root(v)] = k } }

        var groupOf = [Int](repeating: -1, count: pieces.count)
        var groups: [Group] = []
        func key(_ k: Int) -> (Int, Int) { (position[pieces[k].node]!, pieces[k].part) }
        func isBefore(_ a: (Int, Int), _ b: (Int, Int)) -> Bool { a.0 < b.0 || (a.0 == b.0 && a.1 < b.1) }
        /// Where group `g`'s kernel launches if `k` joins it, or nil when it cannot: at the
        /// group's launch still, when everything `k` reads from outside the group exists by then
        /// (the card runs the fused kernel where its first part was); else at `k`, when every
        /// reader of the group's values outside it comes after `k`.
        func placement(_ k: Int, _ g: Int) -> Int? {
            let launch = key(groups[g].launch)
            let early = pieces[k].reads.allSatisfy { v in
                let r = root(v)
                // The writer's kernel, not the writer, must have launched by then.
                if let q = writer[r] { return groupOf[q] == g || isBefore(key(groups[groupOf[q]].launch), launch) }
                switch nodes[r.node].kind {
                case .parameter, .input, .constant: return true
                default: return folded[r.node] != nil  // a collective's output: waited for where it is read
                }
            }
            if early { return groups[g].launch }
            let at = key(k)
            for m in groups[g].members {
                // Every output of a member's op: a split op's values exist once all its parts have
                // launched, so a later launch of one part delays the readers of every output.
                let node = pieces[m].node
                for v in nodes[node].outputTypes.indices.map({ root(GraphValue(node: node, index: $0)) }) {
                    // A reader already in a kernel reads where that kernel launches.
                    for r in readers[v] ?? [] where r != k && groupOf[r] != g
                        && !isBefore(at, key(groupOf[r] >= 0 ? groups[groupOf[r]].launch : r)) { return nil }
                    for p in outside[v] ?? [] where p <= at.0 { return nil }
                }
            }
            return k
        }
        func join(_ k: Int, _ g: Int, launch: Int) {
            groups[g].members.append(k)
            groups[g].launch = launch
            if pieces[k].kind == .eltwise { groups[g].eltwise += 1 }
            groupOf[k] = g
        }
        func singleReader(_ v: GraphValue, _ k: Int) -> Bool {
            let r = root(v)
            return !escapes.contains(r) && (readers[r] ?? []).allSatisfy { pieces[$0].node == pieces[k].node }
        }
        // The optimizer's elementwise update of each parameter is one kernel on Ascend
        // (AdamApplyOneWithDecayRule and its kin replace the chain; ApplyMomentum is one op):
        // elementwise ops on float32 master values that read a parameter or its update, or
        // whose every reader does.
        var optimizer = [Bool](repeating: false, count: pieces.count)
        if options.fusion != .none {
            func candidate(_ k: Int) -> Bool { pieces[k].kind == .eltwise && master.contains(pieces[k].node) }
            for k in pieces.indices where candidate(k) {
                optimizer[k] = pieces[k].reads.contains { v in
                    let r = root(v)
                    if case .parameter = nodes[r.node].kind { return true }
                    return writer[r].map { optimizer[$0] } ?? false
                }
            }
            for k in pieces.indices.reversed() where candidate(k) && !optimizer[k] {
                let rs = pieces[k].writes.flatMap { readers[root($0)] ?? [] }
                optimizer[k] = !rs.isEmpty && rs.allSatisfy { optimizer[$0] }
            }
            // The merged update launches after its last part, so what it computes may go only to
            // the update and the assignments: a value something else reads too (a loss-scaled
            // step's unscaled gradients, which the overflow check reads) stays out of it.
            for k in pieces.indices.reversed() where optimizer[k] {
                optimizer[k] = pieces[k].writes.allSatisfy { v in (readers[root(v)] ?? []).allSatisfy { optimizer[$0] } }
            }
        }
        for k in pieces.indices {
            let p = pieces[k]
            var target: (group: Int, launch: Int)?
            if options.fusion != .none && optimizer[k] {
                // Joins every optimizer group it reads from (merged), else starts one.
                let sources = Set(p.reads.compactMap { writer[root($0)] }.filter { optimizer[$0] }.map { groupOf[$0] })
                if let g = sources.min() {
                    for other in sources where other != g {
                        for m in groups[other].members { groupOf[m] = g }
                        groups[g].members += groups[other].members
                        groups[other].members = []
                    }
                    // Launched after its last part: its values go only to the parameters' assignments.
                    target = (g, k)
                }
            } else if options.fusion != .none {
                for v in p.reads {
                    let r = root(v)
                    guard let q = writer[r], groupOf[q] >= 0, !optimizer[q] else { continue }
                    let g = groupOf[q], head = groups[g].head
                    let allowed: Bool
                    switch p.kind {
                    case .bnReduce:
                        // ConvBnReduceFusionPass: Conv2D + BNTrainingReduce when the convolution's
                        // output goes to the BatchNorm alone.
                        // (Its output is used by the BatchNorm's four parts alone: the two kernels here and
                        // the two of its gradient.)
                        allowed = head == .cube("Conv2D") && groups[g].members.count == 1 && !escapes.contains(r)
                            && (readers[r] ?? []).allSatisfy { pieces[$0].node == p.node || pieces[$0].kind == .bnGrad }
                    case .eltwise:
                        // Elementwise ops join a kernel whose output they alone read (EltwiseFusionPass: chains
                        // of up to 6; MatmulEltwise, BatchMatmulEltwise, Conv2DBackpropEltwise(Eltwise),
                        // BnupdateEltwise(Eltwise), ConvSingleIn/ConvDoubleIn, ReduceEltwise).
                        let limit: Int
                        switch head {
                        case .eltwise: limit = 5
                        case .cube("MatMul"), .cube("BatchMatMul"), .cube("Conv2DBackpropInput"), .bnUpdate, .cube("Conv2D"): limit = 2
                        case .reduce: limit = 1
                        default:
                            let vector: Bool
                            if case .cube = head { vector = false } else { vector = head != .other || compositeTypes.contains(groups[g].headType) }
                            limit = options.fusion == .graphKernel && vector ? Int.max : 0
                        }
                        allowed = groups[g].eltwise < limit && (singleReader(r, k) || options.fusion == .graphKernel)
                    case .reduce, .other, .bnUpdate, .bnGrad:
                        // Graph-kernel fusion clusters vector ops of every kind (reductions and the
                        // composite ops it expands: LayerNorm, Softmax, BatchNorm's parts).
                        let vectorHead: Bool
                        if case .cube = head { vectorHead = false } else { vectorHead = true }
                        allowed = options.fusion == .graphKernel && vectorHead
                            && (p.kind != .other || compositeTypes.contains(p.type))
                    case .cube:
                        allowed = false
                    }
                    if allowed, let at = placement(k, g) {
                        target = (g, at)
                        break
                    }
                }
            }
            if let (g, launch) = target {
                join(k, g, launch: launch)
            } else {
                groups.append(Group(members: [], head: p.kind, headType: p.type, launch: k))
                groupOf[k] = groups.count - 1
                groups[groups.count - 1].members.append(k)
            }
        }

        /// A piece that is its op whole (not one part of a split op such as BNTrainingReduce).
        func isWholeOp(_ p: Piece) -> Bool { p.type == nodes[p.node].kind.opType }
        /// The op instance's name, or for a part of a split op, the part's type in its scope.
        func pieceName(_ p: Piece) -> String { isWholeOp(p) ? nodes[p.node].name : scope(of: nodes[p.node].name) + p.type }

        // The kernels, each launched after its launch piece.
        var launches = [[PlannedKernel]](repeating: [], count: nodes.count)
        var nodeGroup = [Int?](repeating: nil, count: nodes.count)
        for (g, group) in groups.enumerated() where !group.members.isEmpty {
            let members = group.members.sorted { isBefore(key($0), key($1)) }
            for m in members where nodeGroup[pieces[m].node] == nil { nodeGroup[pieces[m].node] = g }
            let last = pieces[group.launch]
            let work: Work
            if members.count == 1 {
                work = cardWork(pieces[members[0]], graphBytes: graphBytes, cardBytes: cardBytes)
            } else {
                work = fusedWork(members.map { pieces[$0] }, root: root, cardBytes: cardBytes, graphBytes: graphBytes,
                                 isInternal: { v in
                                     !escapes.contains(v) && (readers[v] ?? []).allSatisfy { groupOf[$0] == g }
                                 })
            }
            let first = pieces[members[0]]
            let name: String, type: String, fullName: String?
            if members.count == 1 {
                type = first.type
                name = pieceName(first)
                fullName = isWholeOp(first) ? nil : scope(of: nodes[first.node].fullName) + first.type
            } else {
                // MindSpore names a fused kernel FusionOp_ and its ops' types (each type once here:
                // a long one, an optimizer's update, repeats Mul and Add many times).
                var seen = Set<String>()
                let types = members.map { pieces[$0].type }
                type = "FusionOp_" + (types.count > 4 ? types.filter { seen.insert($0).inserted } : types).joined(separator: "_")
                name = scope(of: nodes[first.node].name) + type
                fullName = scope(of: nodes[first.node].fullName) + type
            }
            let ops = members.count == 1 ? [] : members.map { pieceName(pieces[$0]) }
            var memberNodes: [Int] = []
            for m in members where memberNodes.last != pieces[m].node { memberNodes.append(pieces[m].node) }
            launches[last.node].append(PlannedKernel(name: name, type: type, fullName: fullName, work: work, fusedOps: ops, group: g,
                                                     members: memberNodes))
        }
        for i in launches.indices where launches[i].count > 1 {
            launches[i].sort { pieces[groups[$0.group].launch].part < pieces[groups[$1.group].launch].part }
        }
        return KernelPlan(launches: launches, groupOf: nodeGroup)
    }
}

/// `name` without its last component, with the separator (`a/b/Conv2D` → `a/b/`).
private func scope(of name: String) -> String {
    guard let slash = name.lastIndex(of: "/") else { return "" }
    return String(name[...slash])
}

extension NodeKind {
    var opType: String? { if case .op(let op) = self { op.type } else { nil } }
}

/// A kernel of one piece, with its traffic at the card's storage precision: a value held in
/// float16 moves 2 bytes per element where the graph's float32 type says 4. A cube reads its
/// operands at its own precision already.
private func cardWork(_ p: Piece, graphBytes: (GraphValue) -> Double, cardBytes: (GraphValue) -> Double) -> Work {
    var work = p.work
    let isCube: Bool
    if case .cube = p.kind { isCube = true } else { isCube = false }
    let touched = (isCube ? [] : p.reads) + p.writes
    let saved = touched.reduce(0) { $0 + max(0, graphBytes($1) - cardBytes($1)) }
    work.bytes = max(0, work.bytes - saved)
    return work
}

/// A fused kernel: the members' arithmetic, and only the traffic that crosses HBM — values read
/// from outside the group once each, values the group writes that are read outside it, and what
/// each member moves beyond its operands (workspace and policy passes). Cube and vector work of
/// one kernel overlap, as the Da Vinci core pipelines them.
private func fusedWork(_ members: [Piece], root: (GraphValue) -> GraphValue, cardBytes: (GraphValue) -> Double,
                       graphBytes: (GraphValue) -> Double, isInternal: (GraphValue) -> Bool) -> Work {
    let written = Set(members.flatMap { $0.writes.map(root) })
    var bytes = 0.0
    var read = Set<GraphValue>()
    for p in members {
        let io = (p.reads + p.writes).reduce(0) { $0 + graphBytes($1) }
        bytes += max(0, p.work.bytes - io)  // beyond its operands
        for v in p.reads.map(root) {
            if !written.contains(v) && read.insert(v).inserted { bytes += cardBytes(v) }
        }
    }
    for v in written {
        if !isInternal(v) { bytes += cardBytes(v) }
    }
    let cube = members.first { if case .cube = $0.kind { true } else { false } }
    let vectorFlops = members.filter { $0.work.unit == .vector }.reduce(0) { $0 + $1.work.flops }
    let largest = members.max { ($0.work.bytes) < ($1.work.bytes) }!
    if let cube {
        var work = cube.work
        work.bytes = bytes
        work.vectorFlops = vectorFlops
        work.workspaceBytes = members.map(\.work.workspaceBytes).max() ?? 0
        return work
    }
    return Work(flops: vectorFlops, bytes: bytes, unit: .vector, precision: largest.work.precision, tiling: largest.work.tiling,
                workspaceBytes: members.map(\.work.workspaceBytes).max() ?? 0)
}

extension CompiledGraph {
    /// Launches that would run on the card before a value they read exists: each a kernel and the
    /// op whose input it lacks. A node's values exist once every kernel computing a part of it has
    /// launched; a view's, a dropped cast's or a collective's once their inputs exist; parameters,
    /// inputs and constants always. Empty for a sound plan (tested on every network the tests compile).
    func launchOrderViolations() -> [String] {
        let nodes = graph.nodes
        var parts = [Int](repeating: 0, count: nodes.count)
        for list in kernels.launches { for k in list { for m in k.members { parts[m] += 1 } } }
        var ready = [Bool](repeating: false, count: nodes.count)
        var found: [String] = []
        /// Whether node `n`'s values exist, or are computed inside the kernel of `inside`: a node
        /// without a kernel (a view, a dropped cast, a collective) is looked through.
        func available(_ n: Int, _ inside: Set<Int>) -> Bool {
            if ready[n] || inside.contains(n) { return true }
            guard case .op = nodes[n].kind, parts[n] == 0 else { return false }
            return folded[n] != nil || nodes[n].inputs.allSatisfy { available($0.node, inside) }
        }
        // Parameters, inputs and constants are on the card before the step's compute starts.
        for i in schedule {
            if case .op = nodes[i].kind {} else { ready[i] = true }
        }
        for i in schedule {
            for k in kernels.launches[i] {
                let inside = Set(k.members)
                for m in k.members {
                    for v in nodes[m].inputs where !available(v.node, inside) {
                        found.append("\(k.name) launches before \(nodes[v.node].name), which \(nodes[m].name) reads")
                    }
                }
                for m in k.members {
                    parts[m] -= 1
                    if parts[m] == 0 { ready[m] = true }
                }
            }
        }
        return found
    }
}
