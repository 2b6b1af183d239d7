import Foundation
import NPUKernels
import Testing
@testable import NPURandom

/// rng_vectors.json, written by Fixtures/make_rng_vectors.py from the MindSpore oracle and numpy.
nonisolated(unsafe) let vectors: [String: Any] = {  // read-only after load
    let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("Fixtures/rng_vectors.json")
    let data = try! Data(contentsOf: url)
    return try! JSONSerialization.jsonObject(with: data) as! [String: Any]
}()

func hex32(_ s: String) -> UInt32 { UInt32(s, radix: 16)! }
func hex64(_ s: String) -> UInt64 { UInt64(s, radix: 16)! }

@Suite struct KnownAnswerTests {
    var known: [String: Any] { vectors["known_answers"] as! [String: Any] }

    @Test func philoxRandom123Vectors() {
        let cases = known["philox"] as! [[String: [String]]]
        #expect(cases.count == 3)
        for c in cases {
            let ctr = c["counter"]!.map(hex32), key = c["key"]!.map(hex32)
            #expect(philox4x32_10(counter: (ctr[0], ctr[1], ctr[2], ctr[3]), key: (key[0], key[1])) == c["out"]!.map(hex32))
        }
        // Random123's own first vector, written out so the test stands without the fixture.
        #expect(philox4x32_10(counter: (0, 0, 0, 0), key: (0, 0)) == [0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8])
    }

    /// The GetSeed table of the reference page, with the engine seeds derived from it.
    @Test(arguments: [
        (Int64(1234), Int64(0), UInt64(10_326_534_952_919_602_998), UInt32(3_446_511_414), UInt64(1_812_728_031)),
        (1234, 533_697_028, 5_899_861_098_863_469_791, 501_687_519, 1_101_540_786),
        (1234, 2, 10_579_968_686_671_530_098, 667_945_074, 1_299_659_618),
        (0, 2, 15_866_795_177_333_907_577, 3_705_561_209, 356_695_240),
        (5, 7, 7_369_946_891_771_800_164, 2_173_528_676, 1_310_460_338),
    ])
    func getSeedTable(seed: Int64, seed2: Int64, value: UInt64, mtSeed: UInt32, minstdSeed: UInt64) {
        let s = kernelSeed(seed, seed2)
        #expect(s.value == value && !s.entropy)
        #expect(UInt32(truncatingIfNeeded: s.value) == mtSeed)
        var g = MinstdRand0(seed: s.value)
        var expected = MinstdRand0(seed: minstdSeed)
        #expect(g.next() == expected.next())
        #expect(s.value % 2_147_483_647 == minstdSeed)
    }

    @Test func getSeedOfZeroZeroIsEntropy() {
        let a = kernelSeed(0, 0), b = kernelSeed(0, 0)
        #expect(a.entropy && b.entropy)
        #expect(a.value != b.value)
    }

    /// The C++ standard's own checks: the 10000th output of default-seeded engines.
    @Test func cppStandardTenThousandthOutputs() {
        var mt = MT19937(seed: 5489)
        var minstd = MinstdRand0(seed: 1)
        var a: UInt32 = 0, b: UInt32 = 0
        for _ in 0..<10000 { a = mt.next(); b = minstd.next() }
        #expect(a == 4_123_659_995)
        #expect(b == 1_043_618_065)
    }

    @Test func mt19937FillMatchesNextAcrossTwists() {
        var one = MT19937(seed: 99), bulk = MT19937(seed: 99)
        _ = one.next()
        _ = bulk.next()
        let singles = (0..<2000).map { _ in one.next() }
        var filled = [UInt32](repeating: 0, count: 2000)
        npu_mt19937_fill(&filled, &bulk.state, 2000)
        #expect(singles == filled)
    }

    @Test func numpyLegacyRandomState() {
        let np = known["numpy"] as! [String: Any]
        var rs = NumpyRandomState(seed: 1234)
        #expect((0..<8).map { _ in UInt64(rs.mt.next()) } == (np["raw_u32_1234_first8"] as! [NSNumber]).map(\.uint64Value))
        var r2 = NumpyRandomState(seed: 1234)
        #expect(r2.randintOneTo2p63() == 3_532_910_284_440_527_572)
        #expect(String(r2.randintOneTo2p63()) != np["randint_1_2p63_after_1234"] as! String)  // a second draw differs
        var r3 = NumpyRandomState(seed: 7)
        #expect((0..<5).map { _ in r3.nextDouble().bitPattern } == (np["random_sample_7"] as! [String]).map(hex64))
        var r4 = NumpyRandomState(seed: 7)
        #expect((0..<5).map { _ in r4.gauss().bitPattern } == (np["standard_normal_7"] as! [String]).map(hex64))
    }

    @Test func shuffleExampleOfTheReference() {
        #expect(randomSamplerOrder(count: 10, seed: 1234, epoch: 1) == [5, 3, 0, 8, 2, 7, 1, 6, 4, 9])
    }
}

/// Every program of the fixture, run through SeedProgram, bit for bit against the oracle.
@Suite struct OracleProgramTests {
    static let pynativeNames = ((vectors["pynative"] as! [String: Any]).keys).sorted()
    static let graphNames = ((vectors["graph"] as! [String: Any]).keys).sorted()

    func check(_ results: [SeedCallResult], _ expected: [[String: Any]]) {
        #expect(results.count == expected.count)
        for (r, e) in zip(results, expected) {
            #expect(r.call == e["call"] as! String)
            if let seed = e["seed"] as? NSNumber {
                #expect(r.seed.map { UInt64(bitPattern: $0) } == seed.uint64Value, "seed of \(r.call)")
            }
            if let seed2 = e["seed2"] as? NSNumber { #expect(r.seed2 == seed2.int64Value, "seed2 of \(r.call)") }
            if let step = e["step"] as? Int { #expect(r.step == step) }
            if let f32 = e["f32"] as? [String] {
                guard case .float32(let values) = r.values else { Issue.record("\(r.call) gave no float32 values"); continue }
                let got = values.map(\.bitPattern), want = f32.map(hex32)
                let mismatches = zip(got, want).filter { $0 != $1 }.count
                #expect(got.count == want.count && mismatches == 0, "\(r.call): \(mismatches) of \(want.count) values differ")
            }
            if let f64 = e["f64"] as? [String] {
                guard case .float64(let values) = r.values else { Issue.record("\(r.call) gave no float64 values"); continue }
                #expect(values.map(\.bitPattern) == f64.map(hex64), "\(r.call)")
            }
            if let ints = e["int"] as? [Int] {
                #expect(r.values == .int(ints), "\(r.call)")
            }
        }
    }

    @Test(arguments: pynativeNames)
    func pynativeProgram(name: String) throws {
        let entry = (vectors["pynative"] as! [String: Any])[name] as! [String: Any]
        let program = try SeedProgram(entry["program"] as! String)
        check(try program.runPyNative(state: SeedState()), entry["results"] as! [[String: Any]])
    }

    @Test(arguments: graphNames)
    func graphProgram(name: String) throws {
        let entry = (vectors["graph"] as! [String: Any])[name] as! [String: Any]
        let program = try SeedProgram(entry["program"] as! String)
        check(try program.runGraph(state: SeedState(), steps: entry["steps"] as! Int), entry["results"] as! [[String: Any]])
    }
}
