import Foundation
import NPUTrain

extension DriftStudy {
    /// One slice of a drift study's replicas: slice `index` (from 0) of `count`, holding a
    /// contiguous block of replicas. Every slice also runs replica 0, to which the distances are
    /// taken, so slices need nothing from each other and run wherever a scheduler puts them.
    public struct Shard: Equatable, Sendable {
        public var index: Int
        public var count: Int

        public init(index: Int, count: Int) {
            (self.index, self.count) = (index, count)
        }

        /// Parses `i/n` (0 ≤ i < n), as `--shard` takes it; `replicas` bounds n.
        /// - Throws: `TrainError` naming what is wrong and what is valid.
        public init(parsing text: String, replicas: Int) throws {
            let parts = text.split(separator: "/", omittingEmptySubsequences: false)
            guard parts.count == 2, let i = Int(parts[0]), let n = Int(parts[1]) else {
                throw TrainError("--shard takes i/n (slice i, from 0, of n), got '\(text)'")
            }
            guard n >= 1, n <= replicas else { throw TrainError("--shard \(text): n must be 1 to the \(replicas) replicas") }
            guard i >= 0, i < n else { throw TrainError("--shard \(text): i must be 0 to \(n - 1)") }
            (index, count) = (i, n)
        }

        /// The replicas of this slice: the `index`-th of `count` contiguous blocks of nearly equal size.
        public func members(of replicas: Int) -> Range<Int> {
            index * replicas / count ..< (index + 1) * replicas / count
        }

        public var description: String { "\(index)/\(count)" }
    }

    /// What a slice was run with: everything `merge` checks the slices agree on, and what the
    /// joined study's summary and plot need.
    public struct ShardHeader: Equatable {
        /// The script's file name, the steps run and the determinism policy's name.
        public var script: String
        public var steps: Int
        public var determinism: String
        public var shard: Shard
        public var replicas: Int
        public var vary: Vary
        public var orderSeeds: [UInt64]
        public var seeds: [Int64]
        /// Replica 0's losses as float32 bit patterns: every slice computes them.
        public var referenceLosses: [UInt32]
    }

    /// Keeps only `shard`'s rows, remembering replica 0's losses for `merge` to compare.
    public mutating func keepOnly(_ shard: Shard) {
        let members = shard.members(of: replicas)
        self.shard = shard
        referenceLosses = rows.filter { $0.replica == 0 }.map(\.loss.bitPattern)
        rows.removeAll { !members.contains($0.replica) }
    }

    /// `shard.json`: the slice's header, one JSON object.
    public static func shardJSON(_ h: ShardHeader) -> String {
        let name = String(decoding: try! JSONSerialization.data(withJSONObject: [h.script], options: []), as: UTF8.self).dropFirst().dropLast()
        return "{\"format\":\"npusim-drift-shard\",\"version\":1,\"script\":\(name),\"steps\":\(h.steps),\"determinism\":\"\(h.determinism)\","
            + "\"shard\":\"\(h.shard.description)\",\"replicas\":\(h.replicas),\"vary\":\"\(h.vary.rawValue)\","
            + "\"order_seeds\":[\(h.orderSeeds.map(String.init).joined(separator: ","))],\"seeds\":[\(h.seeds.map(String.init).joined(separator: ","))],"
            + "\"replica0_losses\":[\(h.referenceLosses.map(String.init).joined(separator: ","))]}\n"
    }

    /// Reads one slice written by `npusim drift --shard`: `dir/shard.json` and `dir/shard.csv`.
    /// - Throws: `TrainError` naming the file (and line) and what is wrong.
    public static func loadShard(_ dir: String) throws -> (header: ShardHeader, study: DriftStudy) {
        let jsonPath = dir + "/shard.json", csvPath = dir + "/shard.csv"
        guard let json = FileManager.default.contents(atPath: jsonPath) else {
            throw TrainError("\(jsonPath): cannot read it (is \(dir) the --out of an `npusim drift --shard` run?)")
        }
        guard let csv = FileManager.default.contents(atPath: csvPath) else { throw TrainError("\(csvPath): cannot read it") }
        return try parseShard(json: json, csv: String(decoding: csv, as: UTF8.self), jsonPath: jsonPath, csvPath: csvPath)
    }

    /// Parses a slice from the text of its `shard.json` and `shard.csv` (named in errors).
    /// - Throws: `TrainError` naming the file (and line) and what is wrong.
    public static func parseShard(json: Data, csv: String, jsonPath: String, csvPath: String) throws -> (header: ShardHeader, study: DriftStudy) {
        let header = try parseShardHeader(json, path: jsonPath)
        var study = DriftStudy(replicas: header.replicas, vary: header.vary, orderSeeds: header.orderSeeds, seeds: header.seeds, rows: [])
        study.shard = header.shard
        study.referenceLosses = header.referenceLosses
        study.rows = try parseRows(csv, path: csvPath)
        // The rows must be exactly the slice's replicas at steps 1…steps.
        let members = header.shard.members(of: header.replicas)
        var expected = 1, index = 0
        for r in study.rows {
            let want = members.lowerBound + index % members.count
            guard r.step == expected, r.replica == want else {
                throw TrainError("\(csvPath): line \(index + 2) is step \(r.step) replica \(r.replica), expected step \(expected) replica \(want) (slice \(header.shard.description) holds replicas \(members.lowerBound)…\(members.upperBound - 1))")
            }
            index += 1
            if index % members.count == 0 { expected += 1 }
        }
        guard study.rows.count == header.steps * members.count else {
            throw TrainError("\(csvPath): \(study.rows.count) rows, expected \(header.steps) steps × \(members.count) replicas (the file is cut short?)")
        }
        guard header.referenceLosses.count == header.steps else {
            throw TrainError("\(jsonPath): replica0_losses has \(header.referenceLosses.count) values for \(header.steps) steps")
        }
        return (header, study)
    }

    static func parseShardHeader(_ data: Data, path: String) throws -> ShardHeader {
        guard let object = try? JSONSerialization.jsonObject(with: data), let o = object as? [String: Any] else {
            throw TrainError("\(path): not a JSON object")
        }
        guard o["format"] as? String == "npusim-drift-shard" else { throw TrainError("\(path): not a drift slice (\"format\" is not \"npusim-drift-shard\")") }
        guard (o["version"] as? NSNumber)?.intValue == 1 else { throw TrainError("\(path): version \(o["version"] ?? "missing") is not 1, the version this npusim reads") }
        func field<T>(_ key: String, _ read: (Any) -> T?) throws -> T {
            guard let v = o[key], let t = read(v) else { throw TrainError("\(path): \"\(key)\" is missing or of the wrong type") }
            return t
        }
        func integer(_ v: Any) -> Int? { (v as? NSNumber).flatMap { Int($0.stringValue) } }
        // Whole numbers from their text: a seed may not fit a Double.
        func integers<T: FixedWidthInteger>(_ v: Any) -> [T]? {
            guard let a = v as? [NSNumber] else { return nil }
            let parsed = a.map { T($0.stringValue) }
            return parsed.contains(nil) ? nil : parsed.map { $0! }
        }
        let replicas = try field("replicas", integer)
        let steps = try field("steps", integer)
        guard (2...1_000_000).contains(replicas), (1...1_000_000).contains(steps) else {
            throw TrainError("\(path): \"replicas\" must be 2 to 1000000 and \"steps\" 1 to 1000000, as npusim drift takes them")
        }
        let shard: Shard
        do { shard = try Shard(parsing: try field("shard") { $0 as? String }, replicas: replicas) } catch let e as TrainError { throw TrainError("\(path): \(e.message)") }
        guard let vary = Vary(rawValue: try field("vary") { $0 as? String }) else { throw TrainError("\(path): \"vary\" must be order, seed or both") }
        let orderSeeds: [UInt64] = try field("order_seeds", integers), seeds: [Int64] = try field("seeds", integers)
        let reference: [UInt32] = try field("replica0_losses", integers)
        guard orderSeeds.count == replicas, seeds.count == replicas else { throw TrainError("\(path): \"order_seeds\" and \"seeds\" must list \(replicas) values") }
        return ShardHeader(script: try field("script") { $0 as? String }, steps: steps, determinism: try field("determinism") { $0 as? String },
                           shard: shard, replicas: replicas, vary: vary, orderSeeds: orderSeeds, seeds: seeds, referenceLosses: reference)
    }

    /// The rows of a `drift.csv` (or `shard.csv`), as `csv()` writes them.
    static func parseRows(_ text: String, path: String) throws -> [Row] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        let columns = "step,replica,loss,abs_diff,rel_diff,param_l2,max_ulp"
        guard let head = lines.first, head == columns || head == columns + ",visible" else {
            throw TrainError("\(path): line 1 must be \(columns)[,visible]")
        }
        let sink = head.hasSuffix(",visible")
        return try lines.dropFirst().enumerated().map { k, line in
            let f = line.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            func bad(_ what: String) -> TrainError { TrainError("\(path): line \(k + 2): \(what)") }
            guard f.count == (sink ? 8 : 7) else { throw bad("\(f.count) fields, expected \(sink ? 8 : 7)") }
            guard let step = Int(f[0]), step >= 1, let replica = Int(f[1]), replica >= 0 else { throw bad("step and replica must be whole numbers (step from 1)") }
            guard let loss = Double(f[2]), let abs = Double(f[3]), let rel = Double(f[4]) else { throw bad("loss, abs_diff and rel_diff must be numbers") }
            let l2 = f[5].isEmpty ? nil : Double(f[5]), ulp = f[6].isEmpty ? nil : UInt32(f[6])
            guard f[5].isEmpty == (l2 == nil), f[6].isEmpty == (ulp == nil), (l2 == nil) == (ulp == nil) else {
                throw bad("param_l2 and max_ulp must both be numbers or both empty")
            }
            guard !sink || f[7] == "true" || f[7] == "false" else { throw bad("visible must be true or false") }
            return Row(step: step, replica: replica, loss: Float(loss), absDiff: abs, relDiff: rel, paramL2: l2, maxULP: ulp,
                       visible: !sink || f[7] == "true")
        }
    }

    /// Joins slices into the study one run of every replica gives (the same rows, bit for bit).
    /// - Throws: `TrainError` when a slice is missing or given twice, or the slices were run
    ///   differently (script, steps, policy, seeds), or computed replica 0 differently (another
    ///   CPU or BLAS gives other bits).
    public static func merge(_ parts: [(dir: String, header: ShardHeader, study: DriftStudy)]) throws -> DriftStudy {
        guard let first = parts.first else { throw TrainError("drift merge needs the folders of the slices") }
        let h0 = first.header, n = h0.shard.count
        var byIndex: [Int: String] = [:]
        for p in parts {
            let h = p.header
            for (what, same) in [("script", h.script == h0.script), ("steps", h.steps == h0.steps), ("determinism", h.determinism == h0.determinism),
                                 ("replicas", h.replicas == h0.replicas), ("vary", h.vary == h0.vary), ("number of slices", h.shard.count == n),
                                 ("order seeds", h.orderSeeds == h0.orderSeeds), ("seeds", h.seeds == h0.seeds)] where !same {
                throw TrainError("\(p.dir) and \(first.dir) were run with different \(what): slices of one study only")
            }
            if let other = byIndex[h.shard.index] { throw TrainError("\(other) and \(p.dir) both hold slice \(h.shard.description)") }
            byIndex[h.shard.index] = p.dir
            if h.referenceLosses != h0.referenceLosses {
                let step = (zip(h.referenceLosses, h0.referenceLosses).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? 0) + 1
                throw TrainError("\(p.dir) and \(first.dir) computed replica 0 differently (its loss at step \(step)): run the slices on hosts of one CPU kind and one npusim build")
            }
        }
        let missing = (0..<n).filter { byIndex[$0] == nil }
        guard missing.isEmpty else { throw TrainError("slice\(missing.count == 1 ? "" : "s") \(missing.map { "\($0)/\(n)" }.joined(separator: ", ")) missing: give every slice's folder") }
        var study = DriftStudy(replicas: h0.replicas, vary: h0.vary, orderSeeds: h0.orderSeeds, seeds: h0.seeds, rows: [])
        study.rows = parts.flatMap(\.study.rows).sorted { ($0.step, $0.replica) < ($1.step, $1.replica) }
        return study
    }
}

extension DriftStudy.ShardHeader {
    /// The header of `study`, a slice run of `script` (its file name) for `steps` steps under
    /// `determinism`.
    public init(script: String, steps: Int, determinism: String, study: DriftStudy) {
        self.init(script: script, steps: steps, determinism: determinism, shard: study.shard ?? .init(index: 0, count: 1),
                  replicas: study.replicas, vary: study.vary, orderSeeds: study.orderSeeds, seeds: study.seeds,
                  referenceLosses: study.referenceLosses)
    }
}
