import NPUDevice

/// A JSON text built as bytes (a trace of a million events is written in about a second: no
/// string interpolation, no floating-point formatting of times, which are whole nanoseconds).
struct JSONBytes {
    var bytes: [UInt8] = []

    mutating func raw(_ s: StaticString) {
        s.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    /// `s` as a JSON string literal.
    mutating func string(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        // Most names need no escaping: copied whole.
        var s = s
        let done: Bool = s.withUTF8 { u in
            guard !u.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else { return false }
            bytes.append(contentsOf: u)
            return true
        }
        if done {
            bytes.append(UInt8(ascii: "\""))
            return
        }
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case UInt8(ascii: "\n"): raw("\\n")
            case UInt8(ascii: "\t"): raw("\\t")
            case 0..<0x20:
                raw("\\u00")
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                bytes.append(hex[Int(b >> 4)])
                bytes.append(hex[Int(b & 15)])
            default: bytes.append(b)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func int(_ v: Int64) {
        if v < 0 {
            bytes.append(UInt8(ascii: "-"))
            if v == .min { raw("9223372036854775808"); return }
            int(-v)
            return
        }
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                     UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = v, count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            } while n > 0
            for k in stride(from: count - 1, through: 0, by: -1) { bytes.append(d[k]) }
        }
    }

    mutating func int(_ v: Int) { int(Int64(v)) }

    /// A simulated time in microseconds, exactly: whole microseconds, then up to 3 decimals.
    mutating func micros(_ t: SimTime) {
        let ns = t.nanoseconds
        if ns < 0 {
            bytes.append(UInt8(ascii: "-"))
            micros(SimTime(nanoseconds: -ns))
            return
        }
        int(ns / 1000)
        let frac = ns % 1000
        guard frac != 0 else { return }
        bytes.append(UInt8(ascii: "."))
        bytes.append(UInt8(ascii: "0") + UInt8(frac / 100))
        if frac % 100 != 0 {
            bytes.append(UInt8(ascii: "0") + UInt8(frac / 10 % 10))
            if frac % 10 != 0 { bytes.append(UInt8(ascii: "0") + UInt8(frac % 10)) }
        }
    }

    /// A finite number: an integer when whole, else Swift's shortest representation.
    mutating func number(_ x: Double) {
        guard x.isFinite else { raw("0"); return }
        if x == x.rounded(), abs(x) < 1e15 { int(Int64(x)) } else { bytes.append(contentsOf: String(x).utf8) }
    }
}
