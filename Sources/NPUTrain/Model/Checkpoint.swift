import Foundation
import NPUDevice
import NPUGraph
import NPUOps
import NPUTensor

/// A checkpoint error: the file, and the parameters whose names, shapes or dtypes do not match.
public struct CheckpointError: Error, Equatable, CustomStringConvertible, CategorizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var category: ErrorCategory { .badInput }
}

/// Checkpoints: every value of a parameter store (parameters and optimizer state, under
/// MindSpore's names) and the step reached, in one of two formats chosen by the file name:
/// - `.ckpt`: MindSpore's own format (`mindspore.save_checkpoint`/`load_checkpoint`), so weights
///   move both ways between NPUSim and MindSpore. The step reached is MindSpore's `global_step`.
/// - anything else: safetensors, with the step and epoch in its metadata.
///
/// Saves are durable (a temporary file, fsync, rename: an interrupted save leaves the previous
/// checkpoint as it was).
public enum Checkpoint {
    /// The largest checkpoint read.
    public static let fileLimit = 16 << 30

    /// The two formats.
    public enum Format: Sendable {
        case safetensors, mindspore
        /// `.ckpt` is MindSpore's format; every other name is safetensors.
        public init(path: String) { self = path.hasSuffix(".ckpt") ? .mindspore : .safetensors }
    }

    /// What a loaded checkpoint says about where training stands.
    public struct Loaded: Equatable {
        /// The steps trained before it was saved; nil for weights alone (training starts at step 1).
        public var step: Int?
        /// What the load did that a user should know (state the file lacked, values it held that
        /// NPUSim keeps elsewhere), one sentence each.
        public var notes: [String] = []
        /// The random kernels' states the file holds (`Model.randomStates`), for `Model.restoreRandomStates`.
        public var randomStates: [(name: String, tensor: Tensor)] = []

        public static func == (a: Loaded, b: Loaded) -> Bool { a.step == b.step && a.notes == b.notes && a.randomStates.map(\.name) == b.randomStates.map(\.name) }
    }

    /// Saves `store` to `path` after `step` steps (in `epoch`), in the format its name says.
    /// - Throws: `CheckpointError` naming the path and the system's reason.
    public static func save(_ store: ParameterStore, to path: String, step: Int, epoch: Int, extra: [(name: String, tensor: Tensor)] = []) throws {
        var entries = store.names.map { (name: $0, tensor: store[$0]!) } + extra
        if Format(path: path) == .mindspore {
            // MindSpore's optimizers keep the step count as `global_step`, int32[1].
            entries.append((name: "global_step", tensor: try! Tensor(shape: [1], values: [Int32(clamping: step)])))
        }
        try write(entries, to: path, metadata: ["step": String(step), "epoch": String(epoch), "format": "npusim checkpoint 1"])
    }

    /// Writes named tensors to `path` durably (a temporary file, fsync, rename): MindSpore's
    /// `.ckpt` in the order given, or safetensors (with `metadata`) for any other name.
    /// - Throws: `CheckpointError` naming the path and the system's reason.
    public static func write(_ entries: [(name: String, tensor: Tensor)], to path: String, metadata: [String: String] = [:]) throws {
        let bytes: [UInt8]
        switch Format(path: path) {
        case .safetensors:
            bytes = Safetensors.encode(Dictionary(entries.map { ($0.name, $0.tensor) }, uniquingKeysWith: { a, _ in a }), metadata: metadata)
        case .mindspore:
            bytes = MindSporeCheckpoint.encode(entries)
        }
        do { try writeDurably(bytes, to: path) } catch { throw CheckpointError(error.message) }
    }

    /// The named tensors of the checkpoint at `path`: a `.ckpt` in file order, safetensors by name.
    /// - Throws: `CheckpointError` naming the file and what is wrong with it.
    public static func read(_ path: String) throws -> [(name: String, tensor: Tensor)] {
        let bytes: [UInt8]
        do { bytes = try readUserFile(path, what: "checkpoint", limit: fileLimit) } catch { throw CheckpointError("\(path): \(error.message)") }
        switch Format(path: path) {
        case .mindspore:
            do { return try MindSporeCheckpoint.decode(bytes, file: path).tensors } catch { throw CheckpointError(error.message) }
        case .safetensors:
            do { return try Safetensors.decode(bytes, file: path).tensors.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } } catch {
                throw CheckpointError(error.message)
            }
        }
    }

    /// Loads the checkpoint at `path` into `store`.
    ///
    /// A safetensors checkpoint must hold exactly the store's names, each with the same dtype and
    /// shape, and the step it was saved at. A MindSpore `.ckpt` must hold every parameter in
    /// `network` with the same dtype and shape; the optimizer's state (the store's other names)
    /// is loaded when the file has it (a checkpoint of `ModelCheckpoint`) and left at its initial
    /// value when it has none of it (`save_checkpoint(net)`); `global_step`, when present, is the
    /// step reached; MindSpore's optimizer hyperparameters (`learning_rate`, `momentum`, ...) and
    /// saved strings are not parameters here and are passed over.
    /// - Throws: `CheckpointError` naming the file and every mismatch (names on both sides, shapes
    ///   and dtypes), or what is wrong with the file.
    public static func load(_ path: String, into store: ParameterStore, network: Set<String>) throws -> Loaded {
        let bytes: [UInt8]
        do { bytes = try readUserFile(path, what: "checkpoint", limit: fileLimit) } catch { throw CheckpointError("\(path): \(error.message)") }
        switch Format(path: path) {
        case .safetensors: return try loadSafetensors(bytes, path, store)
        case .mindspore: return try loadMindSpore(bytes, path, store, network)
        }
    }

    static func loadSafetensors(_ bytes: [UInt8], _ path: String, _ store: ParameterStore) throws -> Loaded {
        var file: (tensors: [String: Tensor], metadata: [String: String])
        do { file = try Safetensors.decode(bytes, file: path) } catch { throw CheckpointError(error.message) }
        let random = file.tensors.filter { $0.key.hasPrefix(Model.randomStatePrefix) }.sorted { $0.key < $1.key }.map { (name: $0.key, tensor: $0.value) }
        for (name, _) in random { file.tensors[name] = nil }
        // A checkpoint saved before the run had a dynamic loss scale (O2 then used a fixed one)
        // still resumes: the scale starts afresh.
        let scaleState = Set(DynamicLossScaleManager.stateNames)
        let ours = Set(store.names).subtracting(scaleState.subtracting(file.tensors.keys)), theirs = Set(file.tensors.keys)
        guard ours == theirs else {
            throw CheckpointError("\(path) does not match the network: in the file only: \(theirs.subtracting(ours).sorted().joined(separator: ", ").nonEmpty); in the network only: \(ours.subtracting(theirs).sorted().joined(separator: ", ").nonEmpty)")
        }
        let names = store.names.filter(ours.contains)
        try checkTypes(names, file.tensors, store, path)
        guard let text = file.metadata["step"], let reached = Int(text), reached >= 0 else {
            throw CheckpointError("\(path) has no step in its metadata; it was not saved by `npusim run --save-checkpoint`")
        }
        for name in names { store[name] = file.tensors[name]! }
        var loaded = Loaded(step: reached)
        loaded.randomStates = random
        return loaded
    }

    /// The names MindSpore's optimizers and `ModelCheckpoint` save that are not parameters of an
    /// NPUSim store (hyperparameters, the step count, `append_info`).
    static let mindSporeExtras: Set<String> = ["global_step", "learning_rate", "momentum", "weight_decay", "loss_scale",
                                               "epoch_num", "step_num", "current_iterator_step", "last_overflow_iterator_step", "scale_sense"]

    static func loadMindSpore(_ bytes: [UInt8], _ path: String, _ store: ParameterStore, _ network: Set<String>) throws -> Loaded {
        let contents: MindSporeCheckpoint.Contents
        do { contents = try MindSporeCheckpoint.decode(bytes, file: path) } catch { throw CheckpointError(error.message) }
        var file: [String: Tensor] = [:]
        for (name, t) in contents.tensors where !name.hasPrefix(Model.randomStatePrefix) { file[name] = t }
        let random = contents.tensors.filter { $0.name.hasPrefix(Model.randomStatePrefix) }.map { (name: $0.name, tensor: $0.tensor) }
        // A dynamic loss scale's state is loaded when both have it, and otherwise kept.
        let scaleState = DynamicLossScaleManager.stateNames
        let params = store.names.filter { network.contains($0) }, state = store.names.filter { !network.contains($0) && !scaleState.contains($0) }
        let unknown = contents.tensors.map(\.name).filter { store[$0] == nil && !mindSporeExtras.contains($0) && !$0.hasPrefix(Model.randomStatePrefix) }
        let missing = params.filter { file[$0] == nil }
        let presentState = state.filter { file[$0] != nil }
        let differ = (params + presentState).filter { file[$0] != nil && file[$0]!.type != store.type(of: $0) }
        if !missing.isEmpty || !unknown.isEmpty || !differ.isEmpty || (!presentState.isEmpty && presentState.count < state.count) {
            func list(_ names: [String], _ type: (String) -> TensorType?) -> String {
                names.isEmpty ? "none" : names.map { "\($0) \(type($0).map { "\($0)" } ?? "?")" }.joined(separator: ", ")
            }
            let fileNames = contents.tensors.map(\.name).filter { !mindSporeExtras.contains($0) }
            var text = "\(path) does not match the network (MindSpore names: a layer's `name` is its cell name)."
            text += " In the file: \(list(fileNames) { file[$0]?.type })."
            text += " In the network: \(list(params + state) { store.type(of: $0) })."
            if !missing.isEmpty { text += " Missing from the file: \(missing.joined(separator: ", "))." }
            if !unknown.isEmpty { text += " Not in the network: \(unknown.joined(separator: ", "))." }
            if !differ.isEmpty {
                text += " Other types: " + differ.map { "\($0) is \(file[$0]!.type) in the file, \(store.type(of: $0)!) in the network" }.joined(separator: "; ") + "."
            }
            if !presentState.isEmpty && presentState.count < state.count {
                text += " The file has part of the optimizer state: \(state.filter { file[$0] == nil }.joined(separator: ", ")) missing."
            }
            throw CheckpointError(text)
        }
        let scaleLoaded = scaleState.filter { file[$0] != nil && file[$0]!.type == store.type(of: $0) }
        let loaded = params + presentState + scaleLoaded
        for name in loaded { store[name] = file[name]! }
        var result = Loaded(step: nil)
        result.randomStates = random
        if !state.isEmpty && presentState.isEmpty {
            result.notes.append("\(path) holds no optimizer state (as `save_checkpoint(net)` writes); the optimizer starts from its initial state")
        }
        if let g = file["global_step"] {
            let values = g.dtype == .int32 ? (try? g.toArray(of: Int32.self)).map { $0.map(Int.init) } : g.dtype == .int64 ? (try? g.toArray(of: Int64.self)).map { $0.map(Int.init) } : nil
            guard let values, values.count == 1, values[0] >= 0 else {
                throw CheckpointError("\(path): global_step is \(g.type); MindSpore saves the step count as one int32 from 0")
            }
            result.step = values[0]
        }
        let passed = contents.tensors.map(\.name).filter { mindSporeExtras.contains($0) && $0 != "global_step" && !scaleLoaded.contains($0) }
        if !passed.isEmpty {
            result.notes.append("\(path): \(passed.joined(separator: ", ")) come from the script here, not from the checkpoint")
        }
        return result
    }

    static func checkTypes(_ names: [String], _ file: [String: Tensor], _ store: ParameterStore, _ path: String) throws {
        for name in names {
            let want = store.type(of: name)!, got = file[name]!.type
            guard want == got else { throw CheckpointError("\(path): parameter '\(name)' is \(got) in the file, \(want) in the network") }
        }
    }
}

extension String {
    var nonEmpty: String { isEmpty ? "none" : self }
}

/// MindSpore's `CheckpointConfig`: how often `ModelCheckpoint` saves and how many it keeps.
public struct CheckpointConfig: Equatable, Sendable {
    /// `save_checkpoint_steps`: a checkpoint once this many steps have passed since the last.
    public var saveCheckpointSteps: Int
    /// `keep_checkpoint_max`: the newest this many checkpoints of the prefix are kept.
    public var keepCheckpointMax: Int
    /// The file format: MindSpore's `.ckpt` or safetensors.
    public var format: Checkpoint.Format

    public init(saveCheckpointSteps: Int = 1, keepCheckpointMax: Int = 5, format: Checkpoint.Format = .mindspore) {
        (self.saveCheckpointSteps, self.keepCheckpointMax, self.format) = (max(1, saveCheckpointSteps), max(1, keepCheckpointMax), format)
    }
}

extension Checkpoint.Format {
    /// The file name's extension: `ckpt` or `safetensors`.
    public var fileExtension: String { self == .mindspore ? "ckpt" : "safetensors" }
}

/// MindSpore's `ModelCheckpoint` callback (`mindspore/train/callback/_checkpoint.py`): at each
/// step end the host sees (every step, or every sink), a checkpoint `PREFIX-EPOCH_STEP.FORMAT`
/// (STEP: `cur_step_num` within the epoch) once `save_checkpoint_steps` steps have passed since
/// the last, and one at the end of training; the oldest removed beyond `keep_checkpoint_max`. As
/// MindSpore does, a prefix already used by checkpoints in the folder becomes `PREFIX_1`,
/// `PREFIX_2`, ... so an earlier run's files are never overwritten or removed.
public final class ModelCheckpoint: Callback {
    public let config: CheckpointConfig
    public let directory: String
    /// The prefix the files get (the one asked for, or the next free `PREFIX_N`).
    public let prefix: String
    var lastTriggered = 0
    /// The checkpoints of this prefix in the folder, oldest first.
    var files: [String] = []
    /// Every file saved, in order.
    public private(set) var saved: [String] = []

    /// `directory` nil: the working directory, MindSpore's default.
    /// - Throws: `CheckpointError` when the folder cannot be made.
    public init(prefix: String = "CKP", directory: String? = nil, config: CheckpointConfig = CheckpointConfig()) throws {
        self.config = config
        let directory = directory ?? FileManager.default.currentDirectoryPath
        self.directory = directory
        do { try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true) } catch {
            throw CheckpointError("ModelCheckpoint: cannot create the folder \(directory): \(error.localizedDescription)")
        }
        let existing = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let prefix = Self.freePrefix(prefix, among: existing)
        self.prefix = prefix
        files = existing.filter { Self.isCheckpoint($0, prefix: prefix, format: config.format.fileExtension) }
            .map { directory + "/" + $0 }
            .sorted { Self.modified($0) < Self.modified($1) }
    }

    /// MindSpore's rule for a prefix that checkpoints in the folder already use.
    static func freePrefix(_ prefix: String, among names: [String]) -> String {
        var suffix = 0
        for name in names where (name.hasSuffix(".ckpt") || name.hasSuffix(".safetensors")) && !name.hasSuffix("_breakpoint.ckpt") && name.hasPrefix(prefix) {
            let rest = name.dropFirst(prefix.count)
            guard let next = rest.first, !next.isLetter else { continue }
            guard let dash = rest.firstIndex(of: "-") else { continue }
            if dash == rest.startIndex { suffix = max(suffix, 1) } else if let n = Int(rest[rest.index(after: rest.startIndex)..<dash]), n >= 0 {
                suffix = max(suffix, n + 1)
            }
        }
        return suffix == 0 ? prefix : "\(prefix)_\(suffix)"
    }

    static func isCheckpoint(_ name: String, prefix: String, format: String) -> Bool {
        guard name.hasPrefix(prefix + "-"), name.hasSuffix("." + format) else { return false }
        return !name.dropFirst(prefix.count).dropLast(format.count + 1).contains { $0.isLetter }
    }

    static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }

    public func onTrainStepEnd(_ run: RunContext) throws { try save(run.cbParams, force: false) }
    public func onTrainEnd(_ run: RunContext) throws { try save(run.cbParams, force: true) }

    func save(_ p: CallbackParams, force: Bool) throws {
        let step = p.curStepNum
        guard step != lastTriggered, force || step >= lastTriggered + config.saveCheckpointSteps else { return }
        let path = directory + "/" + "\(prefix)-\(p.curEpochNum)_\(p.curStepInEpoch).\(config.format.fileExtension)"
        files.removeAll { $0 == path }
        while files.count >= config.keepCheckpointMax {
            try? FileManager.default.removeItem(atPath: files.removeFirst())
        }
        lastTriggered = step
        let states = try p.randomStates()  // every process takes part; card 0's writes
        guard p.writesFiles else { return }
        try Checkpoint.save(p.store, to: path, step: p.stepsTrained, epoch: p.curEpochNum, extra: states)
        files.append(path)
        saved.append(path)
    }
}
