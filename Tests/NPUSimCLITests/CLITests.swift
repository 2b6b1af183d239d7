import Foundation
import Testing

/// Runs the `npusim` built next to the test binary and returns (exit code, stdout, stderr).
func npusim(_ arguments: [String]) throws -> (code: Int32, out: String, err: String) {
    let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var dir = testBinary.deletingLastPathComponent()
    // On Linux the test binary is <build>/NPUSimPackageTests.xctest; on macOS a bundle inside <build>.
    while !FileManager.default.isExecutableFile(atPath: dir.appendingPathComponent("npusim").path), dir.path != "/" {
        dir = dir.deletingLastPathComponent()
    }
    let process = Process()
    process.executableURL = dir.appendingPathComponent("npusim")
    process.arguments = arguments
    let out = Pipe(), err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: o, as: UTF8.self), String(decoding: e, as: UTF8.self))
}

@Suite struct CLITests {
    @Test func devicesJSONListsEveryProfile() throws {
        let r = try npusim(["devices", "--json"])
        #expect(r.code == 0)
        let lines = r.out.split(separator: "\n")
        #expect(lines.count == 3)
        let first = try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any]
        #expect(first?["name"] as? String == "ascend910")
        #expect(first?["ai_cores"] as? Int == 32)
        #expect(first?["hbm_bandwidth_gbps"] as? Double == 1200)
    }

    @Test func exampleProfileLoads() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("../../examples/devices/slow910.yaml").standardized.path
        let r = try npusim(["devices", "--json", "--profile", example])
        #expect(r.code == 0)
        let last = try JSONSerialization.jsonObject(with: Data(r.out.split(separator: "\n").last!.utf8)) as? [String: Any]
        #expect(last?["name"] as? String == "slow910")
        #expect(last?["hbm_bandwidth_gbps"] as? Double == 600)
        #expect(last?["launch_overhead_us"] as? Double == 6)
        #expect(last?["ai_cores"] as? Int == 32)
    }

    @Test func badProfileFileIsAnInputError() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("npusim-cli-\(UUID().uuidString).yaml")
        try "base: test\nhbm_gib: 0\n".write(to: url, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: url) }
        let r = try npusim(["devices", "--profile", url.path])
        #expect(r.code == 2)
        #expect(r.err == "error: \(url.path):2:10: field 'hbm_gib' expected a positive number, got 0\n")
    }

    @Test func unknownDeviceAndBadFlagsExitWithTwo() throws {
        let device = try npusim(["demo", "--device", "h100"])
        #expect(device.code == 2)
        #expect(device.err.hasPrefix("error: unknown device 'h100'; built-in profiles are ascend910, ascend910b, test"))
        let flag = try npusim(["demo", "--no-such-flag"])
        #expect(flag.code == 2)
        #expect(flag.err.hasPrefix("error: Unknown option '--no-such-flag'"))
        let bench = try npusim(["bench", "nope"])
        #expect(bench.code == 2)
        #expect(bench.err == "error: unknown benchmark 'nope'; benchmarks are sgemm, membw\n")
    }

    @Test func demoSchedulesTheMatMulAfterTheCopies() throws {
        let r = try npusim(["demo", "--device", "test", "--size", "64"])
        #expect(r.code == 0)
        // test profile: each 64×64 float32 H2D copy = 10 µs + 16384 B / 10 GB/s = 11638 ns, so the
        // copies' event is at 23.276 µs. The fp16 MatMul: 2·64³ FLOP at 2 TFLOP/s = 262 ns, 3·16384 B
        // at 100 GB/s = 491.52 ns → memory-bound, 492 ns + 1 µs launch = 1.492 µs.
        let matmul = try #require(r.out.split(separator: "\n").first { $0.contains("MatMul") })
        let fields = matmul.split(separator: " ")
        #expect(fields.suffix(3) == ["23.276", "24.768", "1.492"])
    }
}
