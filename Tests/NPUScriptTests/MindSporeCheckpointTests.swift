import Foundation
import Testing
@testable import NPUScript
import NPUGraph
import NPURandom
import NPUTensor
import NPUTrain

/// MindSpore `.ckpt` files: fixtures written by MindSpore 2.10 itself (Fixtures/mindspore/
/// make_fixtures.py) read back with the values MindSpore reads; files written here read back
/// identically; a run starts from MindSpore's weights and follows MindSpore's training.
@Suite struct MindSporeCheckpointTests {
    static let folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/mindspore")
    static func fixture(_ name: String) -> String { folder.appendingPathComponent(name).path }
    static func bytes(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: folder.appendingPathComponent(name))) }
    static func expected() throws -> [String: Tensor] { try Safetensors.decode(try bytes("expected.safetensors"), file: "expected").tensors }
    func temp(_ name: String) -> String { FileManager.default.temporaryDirectory.appendingPathComponent("npusim-msckpt-\(getpid())-\(name)").path }

    static func bits(_ t: Tensor) -> [UInt8] { t.withUnsafeBytes { Array($0) } }

    @Test(arguments: [("tiny_init.ckpt", "tiny_init"), ("tiny-1_2.ckpt", "tiny-1_2"), ("mixed.ckpt", "mixed"), ("mixed_crc.ckpt", "mixed")])
    func mindSporesFilesReadAsMindSporeReadsThem(file: String, key: String) throws {
        let contents = try MindSporeCheckpoint.decode(try Self.bytes(file), file: file)
        let expected = try Self.expected().filter { $0.key.hasPrefix(key + "/") }
        #expect(contents.tensors.count == expected.count)
        for (name, t) in contents.tensors {
            let want = try #require(expected["\(key)/\(name)"], "\(name) is not in MindSpore's reading")
            #expect(t.type == want.type && Self.bits(t) == Self.bits(want), "\(file): \(name)")
        }
        if key == "mixed" { #expect(contents.strings == ["note": "hello"]) }
        if key == "tiny-1_2" {
            #expect(try contents["global_step"]?.toArray(of: Int32.self) == [2])
            #expect(contents["learning_rate"]?.shape == [] && contents["moments.fc1.weight"]?.shape == [3, 4])
        }
    }

    @Test func damagedFilesAreErrorsNamingTheFileAndTheFault() throws {
        var crc = try Self.bytes("mixed_crc.ckpt")
        crc[40] ^= 1
        #expect(throws: MindSporeCheckpointError.self) { try MindSporeCheckpoint.decode(crc, file: "m.ckpt") }
        do { _ = try MindSporeCheckpoint.decode(crc, file: "m.ckpt") } catch { #expect(error.message.hasPrefix("m.ckpt: the CRC-32 at the end")) }
        let plain = try Self.bytes("mixed.ckpt")
        for cut in [1, 17, plain.count / 2, plain.count - 1] {
            do {
                _ = try MindSporeCheckpoint.decode(Array(plain.prefix(cut)), file: "m.ckpt")
                Issue.record("a file cut at \(cut) of \(plain.count) bytes decoded")
            } catch {
                #expect(error.message.hasPrefix("m.ckpt: "), "\(error.message)")
            }
        }
        // A dtype NPUSim does not hold is named with the ones it does.
        let f64 = [0x0A, 0x1A, 0x0A, 0x01, 0x61, 0x12, 0x15, 0x08, 0x01, 0x12, 0x07] + Array("Float64".utf8) + [0x1A, 0x08] + [UInt8](repeating: 0, count: 8)
        #expect(throws: MindSporeCheckpointError("d.ckpt: 'a' is Float64; NPUSim holds Bool, Float16, Float32, Int32, Int64")) {
            try MindSporeCheckpoint.decode(f64, file: "d.ckpt")
        }
    }

    @Test func filesWrittenHereReadBackIdentically() throws {
        let tensors: [(name: String, tensor: Tensor)] = [("w", try Tensor(shape: [2, 2], values: [Float(1.5), -0.0, .infinity, 1e-40])),
                                                         ("s", try Tensor(shape: [], values: [Float(2)])), ("n", try Tensor(shape: [3], values: [Int64(-5), 0, 1 << 50]))]
        let back = try MindSporeCheckpoint.decode(MindSporeCheckpoint.encode(tensors), file: "x")
        #expect(back.tensors.map(\.name) == ["w", "s", "n"])
        for (a, b) in zip(tensors, back.tensors) { #expect(a.tensor.type == b.tensor.type && Self.bits(a.tensor) == Self.bits(b.tensor)) }
        // MindSpore's own files re-encode to the same bytes (one Checkpoint message per value).
        let initial = try Self.bytes("tiny_init.ckpt")
        #expect(MindSporeCheckpoint.encode(try MindSporeCheckpoint.decode(initial, file: "i").tensors) == initial)
    }

    @Test func aRunStartsFromMindSporesWeightsAndFollowsMindSporesTraining() throws {
        let script = try Script.load(path: Self.fixture("tiny.yaml"))
        var options = RunOptions()
        options.loadCheckpoint = Self.fixture("tiny_init.ckpt")
        let out = temp("after.ckpt")
        defer { try? FileManager.default.removeItem(atPath: out) }
        options.saveCheckpoint = out
        let summary = try ScriptRunner.run(script, options)
        let theirs = try String(contentsOfFile: Self.fixture("losses.txt"), encoding: .utf8).split(separator: "\n").map { Double($0)! }
        #expect(summary.losses.count == 2)
        for (ours, m) in zip(summary.losses, theirs) { #expect(abs(Double(ours.loss) - m) <= 1e-6 * abs(m), "loss \(ours.loss) vs MindSpore's \(m)") }
        // After the same two steps the parameters and moments are MindSpore's (to float32
        // rounding: the kernels differ), and the step count is MindSpore's global_step.
        let ours = try MindSporeCheckpoint.decode(try Array(Data(contentsOf: URL(fileURLWithPath: out))), file: out)
        let mindspore = try MindSporeCheckpoint.decode(try Self.bytes("tiny-1_2.ckpt"), file: "tiny-1_2.ckpt")
        #expect(try ours["global_step"]?.toArray(of: Int32.self) == [2])
        for (name, t) in ours.tensors where name != "global_step" {
            let m = try #require(mindspore[name], "\(name) is not in MindSpore's checkpoint")
            #expect(t.type == m.type)
            for (a, b) in zip(try t.toArray(of: Float.self), try m.toArray(of: Float.self)) { #expect(abs(a - b) <= 1e-6, "\(name): \(a) vs \(b)") }
        }
    }

    /// amp_level O2 follows MindSpore 2.10's O2 (recorded on CPU: make_fixtures.py): the network
    /// computes in float16 — every op's value rounded, a Dense's product and bias rounded once —
    /// with the loss in float32, from MindSpore's initial weights with a fixed loss scale of
    /// 1024. The first loss is MindSpore's to the bit; the later ones within 2 ulps (the
    /// backward's kernels differ in their last bit). O0 is 70 ulps away.
    /// O1 and O3 too: MindSpore 2.10's O1 and O3 give these same eight losses for this network,
    /// which has no BatchNorm or LayerNorm (the cells O2 keeps in float32, O3 does not) and only
    /// white-listed ops (Dense, ReLU: O1 computes them in float16, the rest in float32).
    @Test(arguments: [AmpLevel.O1, .O2, .O3])
    func o2FollowsMindSporesO2(level: AmpLevel) throws {
        var script = try Script.load(path: Self.fixture("tiny.yaml"))
        script.context.ampLevel = level
        script.train.epochs = 4
        script.lossScaleManager = Script.OptimizerSpec(type: "FixedLossScaleManager", arguments: ["loss_scale": .number(1024), "drop_overflow_update": .flag(false)])
        var options = RunOptions()
        options.loadCheckpoint = Self.fixture("tiny_init.ckpt")
        let ours = try ScriptRunner.run(script, options).losses.map { $0.loss }
        let theirs = try String(contentsOfFile: Self.fixture("losses_o2.txt"), encoding: .utf8).split(separator: "\n").map { Float($0)! }
        #expect(ours.count == 8 && ours[0].bitPattern == theirs[0].bitPattern, "\(ours) vs \(theirs)")
        for (a, m) in zip(ours, theirs) { #expect(abs(Int64(a.bitPattern) - Int64(m.bitPattern)) <= 2, "loss \(a) vs MindSpore's \(m)") }
        let o0 = try String(contentsOfFile: Self.fixture("losses.txt"), encoding: .utf8).split(separator: "\n").map { Float($0)! }
        #expect(abs(Int64(o0[0].bitPattern) - Int64(theirs[0].bitPattern)) > 50)
    }

    /// The transformer example starts from the weights MindSpore's own network gets after
    /// `set_seed(1)`: MultiheadAttention's XavierUniform in-projection included, bit for bit.
    @Test func theTransformerExampleStartsFromMindSporesInitialWeights() throws {
        let example = Self.folder.appendingPathComponent("../../../../examples/transformer.yaml").standardized.path
        let script = try Script.load(path: example)
        let seeds = SeedState()
        try seeds.setSeed(script.seed ?? 0)
        let ctx = LayerContext(store: ParameterStore(), seeds: seeds)
        _ = try Builder(script: script).network(ctx)
        let theirs = try MindSporeCheckpoint.decode(try Self.bytes("transformer_init.ckpt"), file: "transformer_init.ckpt")
        #expect(theirs.tensors.map(\.name) == ctx.store.names)
        for (name, t) in theirs.tensors { #expect(Self.bits(t) == Self.bits(ctx.store[name]!), "\(name)") }
    }

    @Test func aResumedCkptRunMatchesTheUninterruptedRun() throws {
        let yaml = ScriptRunnerTests.yaml
        func losses(_ o: RunOptions) throws -> [UInt32] { try ScriptRunner.run(try Script.parse(yaml: yaml, file: "/tmp/mlp.yaml"), o).losses.map(\.loss.bitPattern) }
        let path = temp("resume.ckpt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var whole = RunOptions()
        whole.steps = 13
        let all = try losses(whole)
        var first = whole
        first.steps = 6
        first.saveCheckpoint = path
        _ = try losses(first)
        var second = whole
        second.loadCheckpoint = path
        #expect(try losses(second) == Array(all.suffix(7)))
    }

    /// A step that fails late keeps what was trained (issue 22: the run wrote no checkpoint):
    /// the parameters after the last whole step are saved before the error is thrown, the losses
    /// so far are handed over, and resuming from the checkpoint continues the uninterrupted run.
    @Test func aLateFailureSavesWhatWasTrainedFirst() throws {
        struct Injected: Error {}
        let script = try Script.parse(yaml: ScriptRunnerTests.yaml, file: "/tmp/mlp.yaml")
        let path = temp("late.ckpt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var whole = RunOptions()
        whole.steps = 9
        let all = try ScriptRunner.run(script, whole).losses.map(\.loss.bitPattern)
        var failing = whole
        failing.saveCheckpoint = path
        failing.observer = { _, out in if out.step == 5 { throw Injected() } }  // inside the 6th step
        var partial: PartialRun?
        #expect(throws: Injected.self) { try ScriptRunner.run(script, failing, interrupted: { partial = $0 }) }
        #expect(partial?.savedTo == path && partial?.steps == 5)
        #expect(partial?.losses.map(\.loss.bitPattern) == Array(all.prefix(5)))
        #expect(try Checkpoint.read(path).first { $0.name == "global_step" }?.tensor.toArray(of: Int32.self) == [5])
        var resume = whole
        resume.loadCheckpoint = path
        #expect(try ScriptRunner.run(script, resume).losses.map(\.loss.bitPattern) == Array(all.suffix(4)))
    }

    /// A checkpoint far along (global_step 2·10⁹) resumes at once: the data skips whole epochs
    /// without reading them (issue 22: sink mode read 2·10⁹ batches first, a hang), and a run with
    /// nothing left to train says so (and still loads, to be evaluated).
    @Test func aCheckpointFarAlongResumesWithoutReadingTheSkippedData() throws {
        let script = try Script.parse(yaml: ScriptRunnerTests.yaml, file: "/tmp/mlp.yaml")
        let path = temp("far.ckpt")
        defer { try? FileManager.default.removeItem(atPath: path) }
        var first = RunOptions()
        first.steps = 5
        first.saveCheckpoint = path
        _ = try ScriptRunner.run(script, first)
        let entries = try Checkpoint.read(path).map { e in
            e.name == "global_step" ? (name: e.name, tensor: try Tensor(shape: [1], values: [Int32(2_000_000_000)])) : e
        }
        try Checkpoint.write(entries, to: path)
        var resume = RunOptions()
        resume.loadCheckpoint = path
        var notes: [String] = []
        let clock = ContinuousClock.now
        let none = try ScriptRunner.run(script, resume, message: { notes.append($0) })
        #expect(none.stepsRun == 0 && none.steps == 2_000_000_000)
        #expect(notes.contains("\(path) was saved at step 2000000000, and this run trains 20 steps in all (2 epochs of 10 batches): nothing is left to train; raise --epochs or --steps past 2000000000 to continue it"), "\(notes)")
        for sink in [false, true] {
            resume.sink = sink
            resume.sinkSize = 5
            resume.steps = 2_000_000_010
            let summary = try ScriptRunner.run(script, resume)
            #expect(summary.stepsRun == 10 && summary.steps == 2_000_000_010, "sink \(sink)")
        }
        #expect(ContinuousClock.now - clock < .seconds(20))
    }

    @Test func aCheckpointOfAnotherNetworkListsBothSidesNamesAndShapes() throws {
        let script = try Script.parse(yaml: ScriptRunnerTests.yaml, file: "/tmp/mlp.yaml")
        var options = RunOptions()
        options.loadCheckpoint = Self.fixture("tiny_init.ckpt")
        do {
            _ = try ScriptRunner.run(script, options)
            Issue.record("the tiny network's checkpoint loaded into the MLP")
        } catch let e as CheckpointError {
            #expect(e.message.hasPrefix("\(options.loadCheckpoint!) does not match the network"))
            #expect(e.message.contains("In the file: fc1.weight float32[3, 4], fc1.bias float32[3]"))
            #expect(e.message.contains("In the network: fc1.weight float32[128, 784], fc1.bias float32[128]"))
        }
        // Same names, other shapes: the parameter and both types are named.
        let wide = try Script.parse(yaml: try String(contentsOfFile: Self.fixture("tiny.yaml"), encoding: .utf8)
            .replacingOccurrences(of: "out_channels: 3", with: "out_channels: 5").replacingOccurrences(of: "in_channels: 3", with: "in_channels: 5"),
                                    file: Self.fixture("tiny.yaml"))
        do {
            _ = try ScriptRunner.run(wide, options)
            Issue.record("a 3-wide checkpoint loaded into a 5-wide network")
        } catch let e as CheckpointError {
            #expect(e.message.contains("Other types: fc1.weight is float32[3, 4] in the file, float32[5, 4] in the network; fc1.bias is float32[3] in the file, float32[5] in the network; fc2.weight is float32[2, 3] in the file, float32[2, 5] in the network."))
        }
    }
}

/// MindSpore's ModelCheckpoint callback: when it saves, how it names files, how many it keeps.
@Suite struct ModelCheckpointTests {
    func folder(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-modelckpt-\(getpid())-\(name)")
        try? FileManager.default.removeItem(at: url)
        return url
    }
    func files(_ url: URL) throws -> [String] { try FileManager.default.contentsOfDirectory(atPath: url.path).sorted() }

    func script(_ dir: URL, _ callback: String) throws -> Script {
        let yaml = ScriptRunnerTests.yaml
            .replacingOccurrences(of: "callbacks: [LossMonitor: {per_print_times: 1}]", with: "callbacks: [\(callback)]")
        #expect(yaml.contains(callback))
        return try Script.parse(yaml: yaml, file: dir.appendingPathComponent("s.yaml").path)
    }

    @Test func savesEveryNStepsAndAtTheEndKeepingTheNewest() throws {
        let dir = try folder("steps")
        defer { try? FileManager.default.removeItem(at: dir) }
        let s = try script(dir, "ModelCheckpoint: {prefix: m, directory: ck, config: {save_checkpoint_steps: 3, keep_checkpoint_max: 2}}")
        _ = try ScriptRunner.run(s)  // 2 epochs of 10 steps: saves at 3, 6, ..., 18 and at the end (20)
        let ck = dir.appendingPathComponent("ck")
        #expect(try files(ck) == ["m-2_10.ckpt", "m-2_8.ckpt"])
        let last = try MindSporeCheckpoint.decode(Array(try Data(contentsOf: ck.appendingPathComponent("m-2_10.ckpt"))), file: "m")
        #expect(try last["global_step"]?.toArray(of: Int32.self) == [20])
        // A second run never touches the first run's files: its prefix becomes m_1, as MindSpore's does.
        _ = try ScriptRunner.run(s)
        #expect(try files(ck) == ["m-2_10.ckpt", "m-2_8.ckpt", "m_1-2_10.ckpt", "m_1-2_8.ckpt"])
    }

    @Test func inSinkModeItSavesAtSinkEndsNamedBySinkSize() throws {
        let dir = try folder("sink")
        defer { try? FileManager.default.removeItem(at: dir) }
        var options = RunOptions()
        options.sink = true
        options.sinkSize = 5
        let s = try script(dir, "ModelCheckpoint: {prefix: k, directory: ck, config: {save_checkpoint_steps: 3, keep_checkpoint_max: 5, format: safetensors}}")
        _ = try ScriptRunner.run(s, options)  // two sinks of 5 steps: step ends at 5 and 10
        #expect(try files(dir.appendingPathComponent("ck")) == ["k-1_5.safetensors", "k-2_5.safetensors"])
    }

    @Test func aBadConfigIsNamedWithWhatIsValid() throws {
        let dir = try folder("bad")
        #expect(throws: ScriptError.self) { _ = try script(dir, "ModelCheckpoint: {config: {save_checkpoint_steps: 0}}") }
        do { _ = try script(dir, "ModelCheckpoint: {config: {keep_max: 2}}") } catch let e as ScriptError {
            #expect(e.description.contains("keep_max") && e.description.contains("keep_checkpoint_max"))
        }
    }
}
