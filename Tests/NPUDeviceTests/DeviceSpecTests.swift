import Foundation
import Testing
@testable import NPUDevice

@Suite struct DeviceSpecTests {
    @Test func builtInProfiles() {
        #expect(DeviceSpec.builtIn.map(\.name) == ["ascend910", "ascend910b", "test"])
        let s = DeviceSpec.ascend910
        #expect(s.aiCores == 32)
        #expect(s.cubePeak[.float16] == 256e12)
        #expect(s.hbmBytes == 32 << 30)
        #expect(s.hbmBandwidth == 1.2e12)
        #expect(DeviceSpec.builtIn(named: "ascend910b")?.aiCores == 20)
        #expect(DeviceSpec.builtIn(named: "gpu") == nil)
    }

    @Test func fullProfileFile() throws {
        let yaml = """
        name: mycard
        ai_cores: 8
        cube_tflops: {float16: 100, float32: 50}
        vector_tflops: {float32: 2}
        hbm_gib: 16
        hbm_bandwidth_gbps: 800
        launch_overhead_us: 2.5
        host_latency_us: 12
        host_bandwidth_gbps: 25
        link_latency_us: 4
        link_bandwidth_gbps: 50
        reduction_block_min: 32
        """
        let s = try DeviceSpec.parse(yaml: yaml, file: "mycard.yaml")
        #expect(s.name == "mycard" && s.aiCores == 8)
        #expect(s.cubePeak == [.float16: 100e12, .float32: 50e12])
        #expect(s.vectorPeak == [.float32: 2e12])
        #expect(s.hbmBytes == 16 << 30 && s.hbmBandwidth == 800e9)
        #expect(s.launchOverhead == SimTime(nanoseconds: 2500))
        #expect(s.hostLatency == SimTime(nanoseconds: 12_000) && s.hostBandwidth == 25e9)
        #expect(s.linkLatency == SimTime(nanoseconds: 4000) && s.linkBandwidth == 50e9)
        #expect(s.reductionBlockMin == 32)
        #expect(s.reductionTile == 256 && s.cubeTile == 16)  // the documented defaults of the optional fields
    }

    @Test func baseProfileWithOverrides() throws {
        let s = try DeviceSpec.parse(yaml: "name: small910\nbase: ascend910\nhbm_gib: 8\nhbm_efficiency: 0.9\n", file: "p.yaml")
        var expected = DeviceSpec.ascend910
        expected.name = "small910"
        expected.summary = "based on ascend910"
        expected.hbmBytes = 8 << 30
        expected.hbmEfficiency = 0.9
        #expect(s == expected)
    }

    func failure(_ yaml: String) -> DeviceSpecError? {
        do {
            _ = try DeviceSpec.parse(yaml: yaml, file: "bad.yaml")
            return nil
        } catch let error as DeviceSpecError {
            return error
        } catch {
            Issue.record("unexpected error type \(error)")
            return nil
        }
    }

    @Test func unknownFieldNamesTheLineAndTheValidFields() {
        let e = failure("base: test\nhbm_gb: 3\n")
        #expect(e?.line == 2 && e?.column == 1)
        #expect(e?.description.hasPrefix("bad.yaml:2:1: unknown field 'hbm_gb'; valid fields are name, base, summary, ai_cores,") == true)
    }

    @Test func badValuesNameTheField() {
        #expect(failure("base: test\nhbm_gib: -3\n")?.description == "bad.yaml:2:10: field 'hbm_gib' is -3; valid values are 0.001 to 1048576")
        #expect(failure("base: test\nai_cores: lots\n")?.description == "bad.yaml:2:11: field 'ai_cores' expected a number, got 'lots'")
        #expect(failure("base: test\nai_cores: 2.5\n")?.message == "field 'ai_cores' expected a whole number, got 2.5")
        #expect(failure("base: test\ncube_tflops: {float64: 3}\n")?.message
            == "field 'cube_tflops' has unknown precision 'float64'; valid precisions are float16, bfloat16, float32, int8")
        #expect(failure("base: test\nvector_tflops: 3\n")?.message
            == "field 'vector_tflops' expected a map from precision (float16, bfloat16, float32, int8) to TFLOP/s, got '3'")
        #expect(failure("base: test\nvector_tflops: {float16: 3}\n")?.message
            == "field 'vector_tflops' must give a float32 peak (elementwise ops and reductions run in float32)")
    }

    @Test func missingFieldsUnknownBaseAndNonMappings() {
        #expect(failure("name: x\nai_cores: 4\n")?.message.hasPrefix("field 'cube_tflops' is missing; a profile without 'base' needs every field") == true)
        #expect(failure("base: h100\n")?.message == "field 'base' no built-in profile 'h100'; built-in profiles are ascend910, ascend910b, test")
        #expect(failure("- a\n- b\n")?.message.hasPrefix("the device profile must be a mapping of fields") == true)
        #expect(failure("")?.message.hasPrefix("the device profile is empty") == true)
        let syntax = failure("name: [unclosed\n")
        #expect(syntax?.message.hasPrefix("not valid YAML") == true)
        #expect(syntax?.line != nil)
    }

    /// The host-time figures: optional, the Ascend values by default (with or without a base),
    /// each settable.
    @Test func hostFiguresLoad() throws {
        let base = try DeviceSpec.parse(yaml: "base: test\nname: t\ngraph_launch_us: 50\nsync_us: 7\n", file: "t.yaml")
        #expect(base.host.graphLaunch == .microseconds(50) && base.host.syncRoundTrip == .microseconds(7))
        #expect(base.host.dispatch == .zero && base.host.callback == .zero)  // the test profile's
        #expect(DeviceSpec.ascend910.host == .ascend && DeviceSpec.test.host == .none)
        #expect(HostCosts.ascend.dispatch == .microseconds(20) && HostCosts.ascend.sinkLaunch == .microseconds(80))
    }

    @Test func loadNamesAMissingFile() {
        #expect(throws: DeviceSpecError.self) { try DeviceSpec.load(path: "/no/such/profile.yaml") }
    }

    @Test func loadReadsAFile() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-\(UUID().uuidString).yaml")
        try "base: ascend910b\nname: mine\nlaunch_overhead_us: 0\n".write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let s = try DeviceSpec.load(path: url.path)
        #expect(s.name == "mine" && s.launchOverhead == .zero && s.aiCores == 20)
    }

    /// Figures a new user or a fuzzer tried that crashed later commands: each is refused with the
    /// field, the value and the valid range.
    @Test(arguments: [
        ("launch_overhead_us: 1e16", "field 'launch_overhead_us' is 1e16; valid values are 0 to 1000000"),
        ("launch_overhead_us: 9e15", "field 'launch_overhead_us' is 9e15; valid values are 0 to 1000000"),
        ("host_latency_us: 1e16", "field 'host_latency_us' is 1e16; valid values are 0 to 1000000"),
        ("link_latency_us: 1e16", "field 'link_latency_us' is 1e16; valid values are 0 to 1000000"),
        ("hbm_bandwidth_gbps: 1e-20", "field 'hbm_bandwidth_gbps' is 1e-20; valid values are 0.001 to 1000000"),
        ("host_bandwidth_gbps: 1e-20", "field 'host_bandwidth_gbps' is 1e-20; valid values are 0.001 to 1000000"),
        ("hbm_bandwidth_gbps: 1e300", "field 'hbm_bandwidth_gbps' is 1e300; valid values are 0.001 to 1000000"),
        ("hbm_efficiency: 1.5", "field 'hbm_efficiency' is 1.5; valid values are 0.01 to 1"),
        ("hbm_gib: 1e-12", "field 'hbm_gib' is 1e-12; valid values are 0.001 to 1048576"),
        ("link_bandwidth_gbps: 0.", "field 'link_bandwidth_gbps' is 0.; valid values are 0.001 to 1000000"),
        ("cube_tflops: {float16: .inf}", "field 'cube_tflops.float16' expected a number, got '.inf'"),
        ("vector_tflops: {float32: 1e9}", "field 'vector_tflops.float32' is 1e9; valid values are 1e-06 to 1000000"),
        ("reduction_tile: 0", "field 'reduction_tile' is 0; valid values are 1 to 1048576"),
        ("cube_tile: 4096", "field 'cube_tile' is 4096; valid values are 1 to 1024"),
        ("sync_us: -1", "field 'sync_us' is -1; valid values are 0 to 1000000"),
        ("roce_bandwidth_gbps: 0", "field 'roce_bandwidth_gbps' is 0; valid values are 0.001 to 1000000"),
        ("cards_per_server: 0", "field 'cards_per_server' is 0; valid values are 1 to 1024"),
        ("board_link: nvlink", "field 'board_link' is 'nvlink'; valid values are hccs, pcie"),
        ("ub_fusion: maybe", "field 'ub_fusion' is 'maybe'; valid values are true, false"),
        ("host_dispatch_us: 2e6", "field 'host_dispatch_us' is 2e6; valid values are 0 to 1000000"),
        ("name: \"a\\e[31mred\"", "field 'name' must be at most 64 letters, digits, '.', '_', '+' or '-', got 'a\\u{1B}[31mred'"),
    ])
    func outOfRangeFiguresAreRefused(line: String, message: String) {
        #expect(failure("base: ascend910\n\(line)\n")?.message == message)
    }

    /// The Ascend profiles fuse kernels in graph mode as Ascend's compiler does; a profile may
    /// switch it off, and `test` has none.
    @Test func ubFusionIsTheAscendProfilesDefault() throws {
        #expect(DeviceSpec.ascend910.ubFusion && DeviceSpec.ascend910b.ubFusion && !DeviceSpec.test.ubFusion)
        #expect(try !DeviceSpec.parse(yaml: "base: ascend910\nub_fusion: false\n", file: "p.yaml").ubFusion)
        #expect(try DeviceSpec.parse(yaml: "base: test\nub_fusion: true\n", file: "p.yaml").ubFusion)
    }

    /// The efficiency figures: a profile may override them; the four cube paths go together
    /// unless the base has them.
    @Test func efficiencyFiguresAndCubePaths() throws {
        let s = try DeviceSpec.parse(yaml: "base: ascend910\ncube_efficiency: 0.5\nvector_efficiency: 0.25\nl0c_to_ub_rate: 128\n", file: "p.yaml")
        #expect(s.cubeEfficiency == 0.5 && s.vectorEfficiency == 0.25)
        #expect(s.cubePaths == CubePaths(l1ToL0a: 512, l1ToL0b: 256, l0cToUb: 128, l0cBytes: 256 << 10))
        let t = try DeviceSpec.parse(yaml: "base: test\nl1_to_l0a_rate: 64\nl1_to_l0b_rate: 32\nl0c_to_ub_rate: 16\nl0c_kib: 64\n", file: "p.yaml")
        #expect(t.cubePaths == CubePaths(l1ToL0a: 64, l1ToL0b: 32, l0cToUb: 16, l0cBytes: 64 << 10))
        let e = failure("base: test\nl1_to_l0b_rate: 256\n")
        #expect(e?.description == "bad.yaml:2:17: field 'l1_to_l0b_rate' needs the other cube paths too (missing: l1_to_l0a_rate, l0c_to_ub_rate, l0c_kib); give all of l1_to_l0a_rate, l1_to_l0b_rate, l0c_to_ub_rate, l0c_kib or none")
        #expect(failure("base: ascend910\ncube_efficiency: 1.5\n")?.message.hasPrefix("field 'cube_efficiency'") == true)
    }

    /// A server of PCIe cards: its collectives run at the host-link figures.
    @Test func aPCIeBoardIsTimedAtTheHostLinkFigures() throws {
        let s = try DeviceSpec.parse(yaml: "base: ascend910\nboard_link: pcie\n", file: "p.yaml")
        #expect(s.boardLink == .pcie && DeviceSpec.ascend910.boardLink == .onBoard)
        #expect(CostModel(spec: s).linkTime(bytes: 1e6, link: .pcie) == s.hostLatency + .seconds(1e6 / s.hostBandwidth))
    }

    @Test func devicesAndDirectoriesAreNamedAsSuch() {
        #expect(throws: DeviceSpecError(file: "/dev/null", message: "the device profile is empty; expected a mapping with the fields \(DeviceSpec.fileFields.map(\.key).joined(separator: ", "))")) {
            try DeviceSpec.load(path: "/dev/null")
        }
        #expect(throws: DeviceSpecError(file: "/tmp", message: "is a directory, not a device profile file")) { try DeviceSpec.load(path: "/tmp") }
        #expect(throws: DeviceSpecError(file: "/no/such.yaml", message: "no such file (the device profile was not found)")) {
            try DeviceSpec.load(path: "/no/such.yaml")
        }
        // An endless device stops at the stream limit instead of filling memory.
        #expect(throws: UserFileError(file: "/dev/zero", message: "is larger than 1 KiB (1024 bytes), the most a test file may be")) {
            try readUserFile("/dev/zero", what: "test file", limit: 1024)
        }
    }

    @Test func timesSaturateInsteadOfOverflowing() {
        #expect(SimTime.seconds(1e300) == .max)
        #expect(SimTime.microseconds(-1e300).nanoseconds == -Int64.max)
        #expect(SimTime.max + .seconds(1) == .max)
        #expect(SimTime(nanoseconds: -Int64.max) - .seconds(1) == SimTime(nanoseconds: -Int64.max))
        // A kernel whose work would take longer than SimTime holds ends at .max, not in a trap.
        var spec = DeviceSpec.test
        spec.vectorPeak[.float32] = 1
        let card = Device(spec: spec)
        card.defaultStream.launch("huge", type: "Add", work: Work(flops: 1e300, bytes: 0, unit: .vector))
        card.defaultStream.launch("after", type: "Add", work: Work(flops: 1, bytes: 0, unit: .vector))
        #expect(card.synchronize() == .max)
    }
}
