import Foundation
import Testing

/// Issue 25: a run's cards and a drift study's replicas spread over MPI ranks on loopback give
/// the one-process run's bits, timeline and files; a rank that dies or hangs ends the job with
/// an error naming the rank, the step and the exchange.
@Suite(.serialized) struct MPITests {
    static let lenet = RunCountsAndReplayTests.lenet, mlp = RunCommandTests.example

    /// `mpirun -n ranks` (as root too, more ranks than cores allowed) before npusim.
    static func mpirun(_ ranks: Int, environment: [String] = []) -> [String] {
        ["/usr/bin/env", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1"] + environment
            + ["mpirun", "-n", "\(ranks)", "--oversubscribe"] + environment.flatMap { ["-x", String($0.prefix { $0 != "=" })] }
    }

    static func scratch(_ name: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-mpi-\(name)-\(getpid())").path
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    /// 4 cards on 2 ranks and 6 on 3, under every policy: the same checkpoint and losses, byte
    /// for byte, as one process; and the acceptance's 8 cards on 2 ranks under strict and
    /// `off --order-seed 7`.
    @Test(arguments: [(4, 2, "off"), (4, 2, "on"), (4, 2, "strict"), (6, 3, "off"), (6, 3, "on"), (6, 3, "strict"), (8, 2, "strict"), (8, 2, "off")])
    func cardsOverRanksGiveOneProcesssBits(cards: Int, ranks: Int, policy: String) throws {
        let dir = try Self.scratch("bits-\(cards)-\(ranks)-\(policy)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func run(_ name: String, _ wrapper: [String]) throws -> String {
            let r = try npusim(["run", Self.lenet, "--cards", "\(cards)", "--steps", "3", "--determinism", policy, "--order-seed", "7",
                                "--save-checkpoint", "\(dir)/\(name).safetensors", "--losses", "\(dir)/\(name).csv"], wrapper: wrapper)
            #expect(r.code == 0, "\(name): \(r.err)")
            return r.out
        }
        // The lines the host prints, but for its measured wall time.
        func shown(_ text: String) -> String { text.replacingOccurrences(of: #"host [0-9.]+ s"#, with: "host s", options: .regularExpression) }
        let one = try run("one", []), many = try run("ranks", Self.mpirun(ranks))
        #expect(shown(one) == shown(many) && one.contains("{'Accuracy': "), "the lines the host prints")
        for ext in ["safetensors", "csv"] {
            let a = FileManager.default.contents(atPath: "\(dir)/one.\(ext)"), b = FileManager.default.contents(atPath: "\(dir)/ranks.\(ext)")
            #expect(a != nil && a == b, "\(ext) of \(cards) cards on \(ranks) ranks under \(policy)")
        }
        // The replicas' losses differ between cards under off: the exchange carried real values.
        let csv = try String(contentsOfFile: "\(dir)/ranks.csv", encoding: .utf8)
        #expect(csv.hasPrefix("epoch,step,loss,global_loss\n") && csv.split(separator: "\n").count == 4)
    }

    /// A run with Dropout (every card's random stream travels in the checkpoint) resumed from a
    /// checkpoint saved by 2 ranks, with 4 ranks or 1, ends with the uninterrupted run's bits;
    /// dataset sink mode over ranks keeps the hidden losses too.
    @Test func resumedWithOtherRanksAndSinkingGiveTheSameBits() throws {
        let dir = try Self.scratch("resume")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let script = "\(dir)/dropout.yaml"
        let text = try String(contentsOfFile: Self.mlp, encoding: .utf8)
            .replacingOccurrences(of: "    - ReLU: {}\n", with: "    - ReLU: {}\n    - Dropout: {p: 0.5}\n")
            .replacingOccurrences(of: "count: 320", with: "count: 640")
        try text.write(toFile: script, atomically: true, encoding: .utf8)
        let common = ["run", script, "--cards", "4", "--determinism", "off", "--order-seed", "3"]
        func file(_ name: String) -> Data? { FileManager.default.contents(atPath: "\(dir)/\(name)") }
        #expect(try npusim(common + ["--steps", "6", "--save-checkpoint", "\(dir)/whole.safetensors"]).code == 0)
        #expect(try npusim(common + ["--steps", "3", "--save-checkpoint", "\(dir)/mid.safetensors"], wrapper: Self.mpirun(2)).code == 0)
        for ranks in [4, 1] {
            let r = try npusim(common + ["--steps", "6", "--load-checkpoint", "\(dir)/mid.safetensors", "--save-checkpoint", "\(dir)/resumed\(ranks).safetensors"],
                               wrapper: ranks > 1 ? Self.mpirun(ranks) : [])
            #expect(r.code == 0 && file("whole.safetensors") != nil && file("resumed\(ranks).safetensors") == file("whole.safetensors"), "\(ranks) ranks: \(r.err)")
        }
        let states = String(decoding: file("mid.safetensors") ?? Data(), as: UTF8.self)
        #expect((0..<4).allSatisfy { states.contains(#"npusim.random_state\/card\#($0)\/Dropout"#) })  // JSON escapes "/"
        // Not recording, a rank launches no kernels for its ghost cards (every card's compute
        // takes the same time): the simulated time is still the one process's, to the nanosecond.
        let sink = common + ["--steps", "9", "--sink", "--sink-size", "3", "--hidden-steps", "--json"]
        func simulated(_ out: String) -> Double? {
            out.split(separator: "\n").last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["simulated_seconds"] as? Double
        }
        let a = try npusim(sink + ["--save-checkpoint", "\(dir)/sink1.safetensors", "--losses", "\(dir)/sink1.csv"])
        let b = try npusim(sink + ["--save-checkpoint", "\(dir)/sink2.safetensors", "--losses", "\(dir)/sink2.csv"], wrapper: Self.mpirun(2))
        #expect(a.code == 0 && b.code == 0 && simulated(a.out) != nil && simulated(a.out) == simulated(b.out), "\(a.out.suffix(300)) against \(b.out.suffix(300))")
        #expect(file("sink1.safetensors") != nil && file("sink1.safetensors") == file("sink2.safetensors") && file("sink1.csv") == file("sink2.csv"))
        #expect(String(decoding: file("sink2.csv") ?? Data(), as: UTF8.self).contains(",false\n"), "the hidden steps' losses")
    }

    /// The profile of a run over ranks is the one-process profile: the tables byte for byte (the
    /// ghost cards' reduction orders come from the ranks that computed them), the trace's events
    /// but for the host's measured wall time.
    @Test func aProfileOverRanksIsTheOneProcessProfile() throws {
        let dir = try Self.scratch("profile")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for (name, wrapper) in [("one", [String]()), ("ranks", Self.mpirun(2))] {
            let r = try npusim(["profile", Self.lenet, "--cards", "4", "--steps", "3", "--out", "\(dir)/\(name)"], wrapper: wrapper)
            #expect(r.code == 0, "\(name): \(r.err)")
        }
        for table in ["step_trace_time.csv", "kernel_details.csv", "op_statistic.csv", "reductions.csv"] {
            let a = FileManager.default.contents(atPath: "\(dir)/one/ASCEND_PROFILER_OUTPUT/\(table)")
            #expect(a != nil && a == FileManager.default.contents(atPath: "\(dir)/ranks/ASCEND_PROFILER_OUTPUT/\(table)"), "\(table)")
        }
        func events(_ name: String) throws -> [[String: String]] {
            let data = try Data(contentsOf: URL(fileURLWithPath: "\(dir)/\(name)/ASCEND_PROFILER_OUTPUT/trace_view.json"))
            let object = try JSONSerialization.jsonObject(with: data)
            let list = (object as? [[String: Any]]) ?? ((object as? [String: Any])?["traceEvents"] as? [[String: Any]]) ?? []
            return list.map { e in e.filter { $0.key != "args" }.mapValues { "\($0)" } }
        }
        let a = try events("one"), b = try events("ranks")
        #expect(a.count > 100 && a == b)
        #expect(Set(a.compactMap { $0["pid"] }).isSuperset(of: ["0", "1", "2", "3"]), "a lane for every card")
    }

    /// A drift study over 3 ranks writes the one-process study's files.
    @Test func driftOverRanksIsTheOneProcessStudy() throws {
        let dir = try Self.scratch("drift")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let common = ["drift", Self.mlp, "--replicas", "5", "--steps", "4", "--determinism", "off"]
        #expect(try npusim(common + ["--out", "\(dir)/one"]).code == 0)
        let r = try npusim(common + ["--out", "\(dir)/ranks"], wrapper: Self.mpirun(3))
        #expect(r.code == 0 && r.out.hasPrefix("drift: 5 replicas of "), "\(r.err)")
        for name in ["drift.csv", "summary.json", "drift.svg"] {
            let a = FileManager.default.contents(atPath: "\(dir)/one/\(name)")
            #expect(a != nil && a == FileManager.default.contents(atPath: "\(dir)/ranks/\(name)"), "\(name)")
        }
    }

    /// `npusim check` over 2 ranks: run r on rank r mod 2, the same report as one process; a
    /// verdict every rank reaches is said once.
    @Test func checkOverRanksIsTheOneProcessCheck() throws {
        let common = ["check", Self.mlp, "--runs", "3", "--steps", "8", "--determinism", "off", "--vary-order", "--atol", "0", "--rtol", "0"]
        let one = try npusim(common), many = try npusim(common, wrapper: Self.mpirun(2))
        #expect(one.code == 1 && many.code != 0 && one.out == many.out && one.out.contains("bit-identical: no"), "\(many.err)")
        #expect(many.err.components(separatedBy: "error: not reproducible: step ").count == 2, "said once: \(many.err)")
        let same = try npusim(["check", Self.mlp, "--runs", "3", "--steps", "4", "--determinism", "on"], wrapper: Self.mpirun(2))
        #expect(same.code == 0 && same.out.contains("bit-identical: yes (every loss and every parameter)"), "\(same.err)")
    }

    /// A killed rank ends the job within seconds, naming the rank; the survivor names the step
    /// and the exchange it was in. A rank that hangs makes the others give up after
    /// NPUSIM_MPI_TIMEOUT with an error naming the collective and the step.
    @Test(arguments: ["KILL", "STOP"]) func aRankThatDiesOrHangsEndsTheJob(signal: String) throws {
        let dir = try Self.scratch("fault-\(signal)")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let marker = "\(dir)/marker.csv"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent("npusim").path
        process.arguments = Array(Self.mpirun(2, environment: ["NPUSIM_MPI_TIMEOUT=3"]).dropFirst()) + [binary, "run", Self.lenet, "--cards", "4", "--steps", "1000000", "--losses", marker]
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        let started = Date()
        try process.run()
        // Rank 1: the npusim whose command line holds the marker and whose environment says rank 1.
        var victim: Int32?
        while victim == nil && Date().timeIntervalSince(started) < 30 {
            Thread.sleep(forTimeInterval: 0.2)
            for entry in (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? [] {
                guard let pid = Int32(entry), let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                      String(decoding: cmd, as: UTF8.self).contains(marker), String(decoding: cmd, as: UTF8.self).contains("npusim\u{0}run"),
                      let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { continue }
                if env.split(separator: 0).contains(where: { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=1" }) { victim = pid }
            }
        }
        let pid = try #require(victim, "rank 1 never started")
        Thread.sleep(forTimeInterval: 1.5)  // well into training
        kill(pid, signal == "KILL" ? SIGKILL : SIGSTOP)
        let stopped = Date()
        let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        if signal == "STOP" { kill(pid, SIGKILL) }
        #expect(process.terminationStatus != 0)
        #expect(Date().timeIntervalSince(stopped) < 60, "the job ended in bounded time")
        if signal == "KILL" {
            #expect(text.contains("process rank 1") && text.contains("signal 9"), "\(text)")
            #expect(text.contains("npusim rank 0: stopped") && text.contains(" of step "), "\(text)")
        } else {
            #expect(text.contains("error: rank 0: ") && text.contains(" of step ") && text.contains("did not complete within 3 s (NPUSIM_MPI_TIMEOUT)"), "\(text)")
        }
    }

    /// What cannot be spread over ranks says so.
    @Test func whatRanksCannotDoIsRefused() throws {
        let few = try npusim(["run", Self.lenet, "--cards", "1", "--steps", "1"], wrapper: Self.mpirun(2))
        #expect(few.code != 0 && few.err.contains("mpirun -n 2 needs at least 2 cards (one per rank at least), the run has 1"), "\(few.err)")
        let other = try npusim(["devices"], wrapper: Self.mpirun(2))
        #expect(other.code != 0 && other.err.contains("under mpirun only npusim run, profile, drift and check spread their work over the ranks"), "\(other.err)")
    }
}
