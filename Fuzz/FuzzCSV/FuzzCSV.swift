// libFuzzer harness: a CSV table must parse into samples, or throw DataError naming the line and
// column; never trap, hang or allocate without bound.
import FuzzSupport
import NPUData

@main struct FuzzCSV {
    static func main() { runFuzzer(testOneInput) }
}

func testOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    for (label, header) in [("label", true), ("0", false)] {
        guard let s = try? CSVSource(text: text, file: "fuzz.csv", labelColumn: label, header: header) else { continue }
        precondition(s.classLabels.count == s.count && s.count > 0)
    }
    return 0
}
