import Foundation
import NPUDevice
import NPUTensor

/// A CSV table of numbers (MindSpore's CSVDataset for tabular data): one row per sample, one
/// column of integer class labels, the other columns the sample's features (float32).
public struct CSVSource: StoredSource {
    public let storage: NpySource.Storage
    public let origin: String

    /// The largest CSV file read.
    public static let fileLimit = 1 << 30

    /// - Parameters: `labelColumn`: the label column's header name, or its index from 0;
    ///   `header`: whether the first row names the columns.
    /// - Throws: `DataError` naming the file, the line and the column for anything that is not a
    ///   number, a row of another width, a label that is not a whole number, or no rows.
    public init(path: String, labelColumn: String, header: Bool = true) throws {
        let bytes: [UInt8]
        do { bytes = try readUserFile(path, what: "CSV file", limit: Self.fileLimit) } catch { throw DataError("\(path): \(error.message)") }
        guard let text = String(validating: bytes, as: UTF8.self) else { throw DataError("\(path): is not UTF-8 text") }
        try self.init(text: text, file: path, labelColumn: labelColumn, header: header)
    }

    /// Parses CSV text; `file` names it in errors.
    public init(text: String, file: String, labelColumn: String, header: Bool = true) throws {
        var lines = text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated().map { ($0.offset + 1, $0.element) }
            .filter { !$0.1.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !lines.isEmpty else { throw DataError("\(file): the CSV file has no rows") }
        var names: [String] = []
        if header {
            names = lines.removeFirst().1.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        }
        guard !lines.isEmpty else { throw DataError("\(file): the CSV file has a header and no rows") }
        let width = header ? names.count : lines[0].1.split(separator: ",", omittingEmptySubsequences: false).count
        guard width >= 2 else { throw DataError("\(file): a row needs a label column and at least one feature column, got \(width) column") }
        let label: Int
        if let i = names.firstIndex(of: labelColumn) {
            label = i
        } else if let i = Int(labelColumn), (0..<width).contains(i) {
            label = i
        } else {
            throw DataError("\(file): no label column '\(labelColumn)'; give a header name (\(names.joined(separator: ", "))) or an index from 0 to \(width - 1)")
        }
        var features: [Float] = [], labels: [Int32] = []
        features.reserveCapacity(lines.count * (width - 1))
        for (number, line) in lines {
            let cells = line.split(separator: ",", omittingEmptySubsequences: false)
            guard cells.count == width else { throw DataError("\(file):\(number): \(cells.count) columns; the file has \(width)") }
            for (c, cell) in cells.enumerated() {
                let s = cell.trimmingCharacters(in: .whitespaces)
                guard let v = Double(s), v.isFinite else {
                    throw DataError("\(file):\(number): column \(c + 1)\(header ? " (\(names[c]))" : "") is '\(printable(String(s.prefix(40))))', not a number")
                }
                if c == label {
                    guard v == v.rounded(), abs(v) < 2_147_483_648 else { throw DataError("\(file):\(number): label \(s) is not a whole number") }
                    labels.append(Int32(v))
                } else {
                    features.append(Float(v))
                }
            }
        }
        storage = NpySource.Storage(data: try Tensor(shape: [labels.count, width - 1], values: features), labels: try Tensor(shape: [labels.count], values: labels))
        origin = file
    }

}
