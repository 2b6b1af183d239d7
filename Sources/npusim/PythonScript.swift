import Foundation
import NPUSim

/// A MindSpore Python script run by the Python front end (`python -m npusim.runner`, Docs/Python.md):
/// what `run`, `check` and `profile` do with a `.py` script. NPUSim's flags become the runner's,
/// which hand them to the script's process.
enum PythonScript {
    static func isPython(_ path: String) -> Bool { path.hasSuffix(".py") }

    /// The runner's flags for these `run` flags (each overrides the script's own call).
    static func arguments(_ flags: RunFlags, orderSeed: String? = nil) -> [String] {
        var arguments: [String] = []
        let options: [(String, String?)] = [
            ("--seed", flags.seed.map(String.init)), ("--mode", flags.mode), ("--determinism", flags.determinism),
            ("--order-seed", orderSeed ?? flags.orderSeed), ("--device", flags.device), ("--cards", flags.cards.map(String.init)),
            ("--epochs", flags.epochs.map(String.init)), ("--steps", flags.steps.map(String.init)), ("--sink-size", flags.sinkSize.map(String.init)),
        ]
        for case let (name, value?) in options { arguments += [name, value] }
        if let sink = flags.sink { arguments.append(sink ? "--sink" : "--no-sink") }
        return arguments
    }

    /// Runs the runner with `arguments`, the script and its own arguments, and exits with its status.
    static func exec(_ arguments: [String], script: String, scriptArguments: [String]) throws -> Never {
        let process = try start(arguments, script: script, scriptArguments: scriptArguments, capture: false)
        process.waitUntilExit()
        Foundation.exit(process.terminationStatus)
    }

    /// Runs the runner quietly; the script's output is dropped, its errors become a CLIError.
    static func runQuietly(_ arguments: [String], script: String, scriptArguments: [String]) throws {
        let process = try start(arguments, script: script, scriptArguments: scriptArguments, capture: true)
        let errors = (process.standardError as! Pipe).fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let text = String(decoding: errors, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            let last = text.split(separator: "\n").last.map(String.init) ?? "exit status \(process.terminationStatus)"
            throw CLIError(message: last.hasPrefix("error: ") ? String(last.dropFirst(7)) : "\(script) failed: \(last)", code: process.terminationStatus == 2 ? 2 : 1)
        }
    }

    private static func start(_ arguments: [String], script: String, scriptArguments: [String], capture: Bool) throws -> Process {
        guard FileManager.default.fileExists(atPath: script) else { throw CLIError(message: "\(script): no such file (the training script was not found)") }
        let python = try RunCommand.pythonEnvironment()
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = ["-m", "npusim.runner"] + arguments + [script, "--"] + scriptArguments
        if capture {
            process.standardOutput = FileHandle.nullDevice
            process.standardError = Pipe()
        }
        do { try process.run() } catch { throw CLIError(message: "cannot start \(python): \(error.localizedDescription)", code: 1) }
        return process
    }

    /// The loss records of a `--losses` CSV the runner wrote (with `--hidden-steps`).
    static func losses(_ path: String) throws -> [LossRecord] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch { throw CLIError(message: "the script wrote no losses: \(error.localizedDescription)", code: 1) }
        let rows = text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        guard let header = rows.first else { return [] }
        return try rows.dropFirst().map { row in
            func column(_ name: String) -> String? { header.firstIndex(of: name).flatMap { $0 < row.count ? row[$0] : nil } }
            guard let loss = column("loss").flatMap(Float.init), let step = column("step").flatMap(Int.init) else {
                throw CLIError(message: "the runner's loss file has a bad row: \(row.joined(separator: ","))", code: 1)
            }
            return LossRecord(epoch: column("epoch").flatMap(Int.init) ?? 1, step: step, loss: loss, visible: column("visible") != "false")
        }
    }

    /// A scratch folder for one command's files, removed by the caller.
    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-py-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }
}
