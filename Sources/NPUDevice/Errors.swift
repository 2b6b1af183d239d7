import Foundation

/// What an error means to whoever ran NPUSim: the CLI turns it into the exit code (CLI.md).
public enum ErrorCategory: Sendable {
    /// The input was wrong (a script, a file, a flag, a shape): exit code 2.
    case badInput
    /// The input was valid but the run failed (out of device memory): exit code 1.
    case runFailed

    /// The CLI's exit code for this category.
    public var exitCode: Int32 { self == .badInput ? 2 : 1 }
}

/// An NPUSim error: its message names the file, line or op, what was wrong and what is valid.
public protocol CategorizedError: Error, CustomStringConvertible {
    var category: ErrorCategory { get }
}

extension DeviceError: CategorizedError {
    public var category: ErrorCategory {
        if case .badCluster = self { return .badInput }
        return .runFailed
    }
}

extension DeviceSpecError: CategorizedError {
    public var category: ErrorCategory { .badInput }
}

/// A file a user named that could not be read.
public struct UserFileError: Error, Equatable, CategorizedError {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
    public var category: ErrorCategory { .badInput }
}

/// Reads a file a user named, at most `limit` bytes. Names what is wrong in words: missing, a
/// directory, not readable, larger than the limit. Devices and pipes read as they read (/dev/null
/// is empty) up to `streamLimit` bytes, so an endless one (/dev/zero) stops early.
public func readUserFile(_ path: String, what: String, limit: Int, streamLimit: Int = 64 << 20) throws(UserFileError) -> [UInt8] {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
        throw UserFileError(file: path, message: "no such file (the \(what) was not found)")
    }
    guard !isDirectory.boolValue else { throw UserFileError(file: path, message: "is a directory, not a \(what) file") }
    var info = stat()
    var limit = limit
    if stat(path, &info) == 0 {
        if (info.st_mode & S_IFMT) == S_IFREG {
            guard Int(info.st_size) <= limit else {
                throw UserFileError(file: path, message: "is \(formatBytes(Int64(info.st_size))), larger than \(formatBytes(Int64(limit))), the most a \(what) may be")
            }
        } else {
            limit = min(limit, streamLimit)
        }
    }
    guard let handle = FileHandle(forReadingAtPath: path) else {
        throw UserFileError(file: path, message: "cannot be opened for reading (permission denied?)")
    }
    defer { try? handle.close() }
    let data: Data
    do {
        data = try handle.read(upToCount: limit + 1) ?? Data()
    } catch {
        throw UserFileError(file: path, message: "cannot be read: \(error.localizedDescription)")
    }
    guard data.count <= limit else {
        throw UserFileError(file: path, message: "is larger than \(formatBytes(Int64(limit))), the most a \(what) may be")
    }
    return [UInt8](data)
}

/// `text` with control characters (terminal escape codes among them) written as `\u{1B}`, so a
/// name from a file can be printed safely.
public func printable(_ text: String) -> String {
    var out = ""
    for scalar in text.unicodeScalars {
        if scalar.properties.generalCategory == .control || scalar.properties.generalCategory == .format {
            out += "\\u{\(String(scalar.value, radix: 16, uppercase: true))}"
        } else {
            out.unicodeScalars.append(scalar)
        }
    }
    return out
}

/// Refuses YAML shapes no NPUSim file uses and that make YAML composition slow (Yams compares
/// mapping keys deeply, in time exponential in their depth): explicit `?` keys (keys that are
/// themselves mappings or lists), aliases as keys, and flow nesting or indentation deeper than
/// allowed. Returns the
/// line, column and a message, or nil when the text is fine to hand to the YAML parser.
public func unsupportedYAMLStructure(_ text: String) -> (line: Int, column: Int, message: String)? {
    var depth = 0
    for (n, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
        let chars = Array(raw)
        let indent = chars.prefix { $0 == " " }.count
        if indent > 64 { return (n + 1, indent + 1, "indented more than 64 columns; nesting this deep is not part of the format") }
        var quote: Character?, last: Character = "-"  // what precedes a key position: line start counts as "-"
        for (c, ch) in chars.enumerated() {
            if let q = quote {
                if ch == q { quote = nil }
                continue
            }
            if ch == "#" && (c == 0 || chars[c - 1] == " " || chars[c - 1] == "\t") { break }  // a comment
            switch ch {
            case "\"", "'": quote = ch
            case "{", "[":
                depth += 1
                if depth > 32 { return (n + 1, c + 1, "lists or mappings nested more than 32 deep") }
            case "}", "]": depth = max(0, depth - 1)
            case "?" where "-{,[:".contains(last) && (c + 1 == chars.count || chars[c + 1] == " " || chars[c + 1] == "\t"):
                return (n + 1, c + 1, "explicit '?' keys (keys that are lists or mappings) are not part of the format")
            case "*" where "-{,[".contains(last):
                // An alias where a key may start: a key if a ':' follows its name (the YAML
                // library hashes a key's whole tree, exponential for a chain of aliases).
                var e = c + 1
                while e < chars.count, !" \t,[]{}".contains(chars[e]) { e += 1 }
                let name = chars[(c + 1)..<e]
                while e < chars.count, chars[e] == " " || chars[e] == "\t" { e += 1 }
                if name.last == ":" || (e < chars.count && chars[e] == ":") {
                    return (n + 1, c + 1, "an alias (*name) as a mapping key is not part of the format; write the key itself")
                }
            default: break
            }
            if ch != " " && ch != "\t" { last = ch }
        }
    }
    return nil
}
