import ArgumentParser
import Foundation
import NPUMPI
import NPUSim

/// An error the CLI reports as `error: …` with an exit code (CLI.md: 1 run failed, 2 bad input).
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var code: Int32 = 2
    /// Under mpirun: every rank reaches this error alike (a verdict on exchanged results), so
    /// rank 0 says it and every rank exits, none aborting the others.
    var everyRank = false
    var description: String { message }
}

@main
struct NPUSimCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "npusim",
        abstract: "A simulated Ascend-like NPU: streams, a cost model, and real numerics on the host.",
        subcommands: [RunCommand.self, CheckCommand.self, DriftCommand.self, LocalizeCommand.self, StudyCommand.self, ProfileCommand.self, DemoCommand.self, DevicesCommand.self, OpsCommand.self, SeedsCommand.self, BenchCommand.self]
    )

    static func main() {
        var command: ParsableCommand
        do {
            command = try parseAsRoot()
        } catch {
            usageError(error)
        }
        Parallel.takeHostThreads()
        do {
            // Under mpirun: MPI starts, and only run, profile, drift and check know what to do with ranks.
            if let world = try MPIWorld.launched() {
                ranks = world
                // The ranks on this host share its cores (unless OPENBLAS_NUM_THREADS says otherwise).
                if ProcessInfo.processInfo.environment["OPENBLAS_NUM_THREADS"] == nil, let here = world.ranksOnThisHost, here > 1 {
                    Parallel.threads = max(1, ProcessInfo.processInfo.activeProcessorCount / here)
                }
                let exchangeBench = (command as? BenchCommand)?.names == ["exchange"]
                if world.size > 1 && !(command is RunCommand || command is ProfileCommand || command is DriftRun || command is CheckCommand || exchangeBench) {
                    throw CLIError(message: "under mpirun only npusim run, profile, drift and check spread their work over the ranks; run this command without mpirun")
                }
            }
            try command.run()
            ranks?.finalize()
        } catch let error as MPIError {
            fail(error.message, code: 1)
        } catch let error as CLIError {
            if error.everyRank, let ranks, ranks.size > 1 {
                if ranks.rank == 0 { FileHandle.standardError.write(Data((escapingControls("error: " + error.message) + "\n").utf8)) }
                ranks.finalize()
                Foundation.exit(error.code)
            }
            fail(error.message, code: error.code)
        } catch let error as CategorizedError {
            fail(error.description, code: error.category.exitCode)
        } catch {
            // ArgumentParser's own (help, version, usage) come from run() too: `--help` parses to
            // a help command whose run throws.
            let code = exitCode(for: error)
            if code == .success || code == .validationFailure || error is CleanExit { usageError(error) }
            // Not one of ours: still a message, never ArgumentParser's usage text.
            fail(String(describing: error), code: 1)
        }
    }

    /// Help and version (exit 0), or a usage error: ArgumentParser's message and usage with exit code 2.
    static func usageError(_ error: Error) -> Never {
        let code = exitCode(for: error)
        if code == .success || error is CleanExit { exit(withError: error) }
        let text = fullMessage(for: error).replacingOccurrences(of: "Error: ", with: "error: ")
        fail(text, code: code == .validationFailure ? 2 : code.rawValue)
    }

    static func fail(_ message: String, code: Int32) -> Never {
        var text = message.hasPrefix("error: ") ? message : "error: \(message)"
        if let ranks, ranks.size > 1 {
            // One rank's error ends every rank (none is left waiting for it).
            if !text.hasPrefix("error: rank ") { text = "error: rank \(ranks.rank): " + text.dropFirst("error: ".count) }
            FileHandle.standardError.write(Data((escapingControls(text) + "\n").utf8))
            // Before any exchange every rank meets the same errors (flags, the script, its
            // files) and exits; mpirun stops the job when a rank exits so.
            if ranks.exchanges == 0 { Foundation.exit(code) }
            ranks.abort(code: code)
        }
        FileHandle.standardError.write(Data((escapingControls(text) + "\n").utf8))
        Foundation.exit(code)
    }

    /// A message fit for a terminal: control characters (a key holding escape sequences, say)
    /// shown as `\u{1B}` instead of acting on the screen; line breaks kept.
    static func escapingControls(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == "\n" || scalar == "\t" || !(scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)) {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
            }
        }
        return out
    }
}

/// Runs a command's `body` for `script`: a library error that names neither the script nor a
/// flag gets the script's path in front, so every error says which file it is about (a shape
/// error deep in the network names its op, not the file). The CLI's own messages (verdicts,
/// flags) stay as they are.
func naming(_ script: String, _ body: () throws -> Void) throws {
    func located(_ text: String) -> Bool { text.contains(script) || text.hasPrefix("--") || text.hasPrefix("error: --") }
    do { try body() } catch let error as CLIError {
        throw error
    } catch let error as CategorizedError {
        guard located(error.description) else { throw CLIError(message: "\(script): \(error.description)", code: error.category.exitCode) }
        throw error
    }
}

extension DeviceSpec {
    /// A built-in profile by name, or a profile YAML file by path.
    static func resolve(_ nameOrPath: String) throws -> DeviceSpec {
        if let spec = builtIn(named: nameOrPath) { return spec }
        if nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") || FileManager.default.fileExists(atPath: nameOrPath) {
            return try load(path: nameOrPath)
        }
        throw CLIError(message: "unknown device '\(nameOrPath)'; built-in profiles are \(builtIn.map(\.name).joined(separator: ", ")), or give a profile YAML file (see Docs/DeviceModel.md)")
    }
}

/// The ranks of an mpirun job, when npusim runs under one.
nonisolated(unsafe) var ranks: MPIWorld?

/// Writes `text` to standard output without buffering surprises between print and FileHandle.
/// Under mpirun only rank 0 speaks (every rank computes the same lines).
func emit(_ text: String) {
    if let ranks, ranks.rank != 0 { return }
    print(text)
}

/// An output a command will write: its folder must exist and be writable, it must not be a
/// folder, and it must not be one of `inputs` (the script being run, the data it reads) — checked
/// before any work, so nothing is trained to be lost or written over an input.
func checkOutput(_ path: String, flag: String, inputs: [String]) throws {
    let url = URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath()
    let folder = url.deletingLastPathComponent().path
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isFolder), isFolder.boolValue else {
        throw CLIError(message: "\(flag) \(path): the folder \(folder) does not exist")
    }
    guard access(folder, W_OK) == 0 else { throw CLIError(message: "\(flag) \(path): the folder \(folder) is not writable") }
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isFolder), isFolder.boolValue {
        throw CLIError(message: "\(flag) \(path) is a folder; give a file name")
    }
    for input in inputs where URL(fileURLWithPath: input).standardizedFileURL.resolvingSymlinksInPath().path == url.path {
        throw CLIError(message: "\(flag) \(path) is an input of this run (\(input)); writing it would destroy it — give another file")
    }
}
