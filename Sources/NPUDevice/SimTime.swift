/// Simulated device time in integer nanoseconds: an instant since the device started, or a
/// duration. Never mixed with host wall-clock time (profiles show the two side by side).
public struct SimTime: Hashable, Comparable, Sendable, CustomStringConvertible {
    /// Nanoseconds.
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    /// The instant the device starts at, and the empty duration.
    public static let zero = SimTime(nanoseconds: 0)

    /// The latest instant representable (about 292 years): times saturate here instead of
    /// overflowing, so a huge cost shows as a huge time, never as a crash.
    public static let max = SimTime(nanoseconds: .max)

    /// A duration of `seconds`, rounded to the nearest nanosecond; saturates at ±`max` (NaN is
    /// a broken invariant: the cost model never divides by zero).
    public static func seconds(_ seconds: Double) -> SimTime { nanoseconds(seconds * 1e9) }

    /// A duration of `us` microseconds, rounded to the nearest nanosecond; saturates at ±`max`.
    public static func microseconds(_ us: Double) -> SimTime { nanoseconds(us * 1e3) }

    private static func nanoseconds(_ ns: Double) -> SimTime {
        precondition(!ns.isNaN, "a simulated time is NaN")
        if ns >= 9.223372036854775e18 { return .max }
        if ns <= -9.223372036854775e18 { return SimTime(nanoseconds: -.max) }
        return SimTime(nanoseconds: Int64(ns.rounded()))
    }

    /// This time in microseconds (the unit of Chrome traces).
    public var microseconds: Double { Double(nanoseconds) / 1e3 }

    /// This time in seconds.
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func < (a: SimTime, b: SimTime) -> Bool { a.nanoseconds < b.nanoseconds }
    /// Saturating sums and differences (at ±`max`).
    public static func + (a: SimTime, b: SimTime) -> SimTime {
        let (s, overflow) = a.nanoseconds.addingReportingOverflow(b.nanoseconds)
        return overflow ? SimTime(nanoseconds: b.nanoseconds > 0 ? .max : -.max) : SimTime(nanoseconds: s)
    }
    public static func - (a: SimTime, b: SimTime) -> SimTime {
        let (s, overflow) = a.nanoseconds.subtractingReportingOverflow(b.nanoseconds)
        return overflow ? SimTime(nanoseconds: b.nanoseconds < 0 ? .max : -.max) : SimTime(nanoseconds: s)
    }
    public static func += (a: inout SimTime, b: SimTime) { a = a + b }

    /// `12.345 µs`, `3.2 ms`, `870 ns`: the largest unit that keeps the number ≥ 1.
    public var description: String {
        let ns = Double(nanoseconds)
        let magnitude = abs(ns)
        if magnitude >= 1e9 { return "\(formatSignificant(ns / 1e9)) s" }
        if magnitude >= 1e6 { return "\(formatSignificant(ns / 1e6)) ms" }
        if magnitude >= 1e3 { return "\(formatSignificant(ns / 1e3)) µs" }
        return "\(nanoseconds) ns"
    }
}

/// `value` with three decimals, trailing zeros removed (`1.5`, `12.345`, `2`).
func formatSignificant(_ value: Double) -> String {
    var text = String(Int64((value * 1000).rounded()))
    let negative = text.hasPrefix("-")
    if negative { text.removeFirst() }
    while text.count < 4 { text = "0" + text }
    var integer = String(text.dropLast(3))
    var fraction = String(text.suffix(3))
    while fraction.hasSuffix("0") { fraction.removeLast() }
    if negative { integer = "-" + integer }
    return fraction.isEmpty ? integer : "\(integer).\(fraction)"
}
