// libFuzzer harness: a drift slice (`shard.json`, a NUL byte, `shard.csv`) must parse, and merge
// with itself, or throw TrainError naming the file; never trap, hang or allocate without bound.
import Foundation
import FuzzSupport
import NPUStudy

@main struct FuzzDriftShard {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let cut = bytes.firstIndex(of: 0) ?? size
    let json = Data(bytes[..<cut]), csv = String(decoding: bytes[min(cut + 1, size)...], as: UTF8.self)
    guard let slice = try? DriftStudy.parseShard(json: json, csv: csv, jsonPath: "shard.json", csvPath: "shard.csv") else { return 0 }
    let part = (dir: "a", header: slice.header, study: slice.study)
    if let merged = try? DriftStudy.merge([part]) {
        precondition(slice.header.shard.count == 1 && merged.rows.count == slice.study.rows.count)
        _ = merged.csv()
    }
    return 0
}
