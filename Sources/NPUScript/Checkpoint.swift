import Foundation
import NPUDevice
import NPUGraph
import NPUTensor

/// A checkpoint error: the file, and the parameters whose names, shapes or dtypes do not match.
public struct CheckpointError: Error, Equatable, CustomStringConvertible, CategorizedError {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var category: ErrorCategory { .badInput }
}

/// Checkpoints in the safetensors format: every value of a parameter store (parameters and
/// optimizer state, under MindSpore's names) and metadata (the step and epoch reached), written
/// durably (a temporary file, fsync, rename: an interrupted save leaves the previous checkpoint).
public enum Checkpoint {
    /// The largest checkpoint read.
    public static let fileLimit = 16 << 30

    public static func save(_ store: ParameterStore, to path: String, metadata: [String: String]) throws {
        var tensors: [String: Tensor] = [:]
        for name in store.names { tensors[name] = store[name] }
        do {
            try writeDurably(Safetensors.encode(tensors, metadata: metadata), to: path)
        } catch {
            throw CheckpointError(error.message)
        }
    }

    /// Loads a checkpoint into `store`, which must hold exactly the same names, each with the same
    /// dtype and shape; returns the checkpoint's metadata.
    /// - Throws: `CheckpointError` naming the file and every mismatch (names on both sides, shapes
    ///   and dtypes), or what is wrong with the file.
    @discardableResult
    public static func load(_ path: String, into store: ParameterStore) throws -> [String: String] {
        let bytes: [UInt8]
        do { bytes = try readUserFile(path, what: "checkpoint", limit: fileLimit) } catch { throw CheckpointError("\(path): \(error.message)") }
        let file: (tensors: [String: Tensor], metadata: [String: String])
        do { file = try Safetensors.decode(bytes, file: path) } catch { throw CheckpointError(error.message) }
        let ours = Set(store.names), theirs = Set(file.tensors.keys)
        guard ours == theirs else {
            throw CheckpointError("\(path) does not match the network: in the file only: \(theirs.subtracting(ours).sorted().joined(separator: ", ").nonEmpty); in the network only: \(ours.subtracting(theirs).sorted().joined(separator: ", ").nonEmpty)")
        }
        for name in store.names {
            let want = store[name]!.type, got = file.tensors[name]!.type
            guard want == got else { throw CheckpointError("\(path): parameter '\(name)' is \(got) in the file, \(want) in the network") }
        }
        for name in store.names { store[name] = file.tensors[name]! }
        return file.metadata
    }
}

extension String {
    var nonEmpty: String { isEmpty ? "none" : self }
}
