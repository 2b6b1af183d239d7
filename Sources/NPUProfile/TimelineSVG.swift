import Foundation
import NPUDevice

/// `timeline.svg`: the first steps of every card as lanes a person can read without a tool — one
/// lane per stream and one for the host, each task a bar coloured by what it occupies (cube,
/// vector, copies, links, host), a time axis in microseconds, and a dashed line where each step
/// begins.
public enum TimelineSVG {
    static let colours: [String: String] = ["cube": "#4e79a7", "vector": "#59a14f", "copy": "#edc948", "link": "#e15759", "host": "#9c755f", "other": "#bab0ac"]

    static func colour(_ t: TaskRecord) -> (String, String) {
        switch t.kind {
        case .kernel(let work): return work.unit == .cube ? ("cube", colours["cube"]!) : ("vector", colours["vector"]!)
        case .copy: return ("copy", colours["copy"]!)
        case .transfer: return ("link", colours["link"]!)
        default: return ("other", colours["other"]!)
        }
    }

    /// `s` as SVG/XML text or attribute content (`&`, `<`, `>` and `"` escaped).
    public static func escape(_ s: String) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "&") || $0 == UInt8(ascii: "<") || $0 == UInt8(ascii: ">") || $0 == UInt8(ascii: "\"") }) else { return s }
        return s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
            .replacingOccurrences(of: "\"", with: "&quot;")
    }

    /// The most cards drawn: a picture of hundreds of cards' lanes is not one a person reads
    /// (every card is in trace_view.json).
    public static let maxCards = 8

    /// The SVG of the tasks of the first `steps` steps (by the executor's step numbers; every
    /// task when none were recorded) on the first `maxCards` of `devices`.
    public static func render(_ all: [Device], steps: Int = 3) -> String {
        let devices = Array(all.prefix(maxCards))
        let first = devices.compactMap { d in d.timeline.compactMap { $0.info?.step }.min() }.min() ?? 0
        func keep(_ t: TaskRecord) -> Bool { t.info?.step.map { $0 < first + steps } ?? true }
        let tasks = devices.map { d in d.timeline.filter { keep($0) && $0.duration > .zero } }
        let end = max(tasks.flatMap { $0.map(\.end) }.max() ?? .zero, .microseconds(1))
        let hosts = devices.map { d in d.hostEvents.filter { $0.start < end } }
        let width = 1200.0, left = 150.0, laneHeight = 22.0, top = 40.0
        let scale = (width - left - 20) / end.microseconds
        var lanes: [(label: String, items: [(SimTime, SimTime, String, String)])] = []
        for (k, d) in devices.enumerated() {
            lanes.append(("NPU \(d.ordinal) host", hosts[k].map { ($0.start, $0.start + $0.duration, colours["host"]!, "\($0.type): \($0.name)") }))
            for s in d.streams {
                let items = tasks[k].filter { $0.stream == s.index }.map { t in (t.start, t.end, colour(t).1, "\(t.name) (\(t.type)) \(String(format: "%.2f", t.duration.microseconds)) µs") }
                if !items.isEmpty { lanes.append(("NPU \(d.ordinal) \(s.name)", items)) }
            }
        }
        let height = top + Double(lanes.count) * laneHeight + 60
        // The steps the picture holds, as the title says them.
        let drawn = Set(tasks.flatMap { $0.compactMap { $0.info?.step } }).sorted()
        let drawnSteps = drawn.isEmpty ? "every task" : drawn.count == 1 ? "step \(drawn[0])" : "steps \(drawn.first!)–\(drawn.last!)"
        let axis = Self.axis(end)
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="10" y="20" font-size="14">NPUSim timeline: \(drawnSteps), simulated time in \(axis.unit)\(all.count > devices.count ? "; cards 0–\(devices.count - 1) of \(all.count) (every card is in trace_view.json)" : "")</text>

        """
        for (i, lane) in lanes.enumerated() {
            let y = top + Double(i) * laneHeight
            svg += "<text x=\"10\" y=\"\(y + 15)\">\(escape(lane.label))</text>\n"
            svg += "<line x1=\"\(left)\" y1=\"\(y + laneHeight)\" x2=\"\(width - 20)\" y2=\"\(y + laneHeight)\" stroke=\"#eee\"/>\n"
            for (a, b, fill, title) in lane.items {
                let x = left + a.microseconds * scale, w = max(0.5, (b - a).microseconds * scale)
                svg += "<rect x=\"\(String(format: "%.2f", x))\" y=\"\(y + 3)\" width=\"\(String(format: "%.2f", w))\" height=\"\(laneHeight - 6)\" fill=\"\(fill)\"><title>\(escape(title))</title></rect>\n"
            }
        }
        // Step starts (graph or sink launches on card 0's host lane).
        for e in hosts.first ?? [] where e.type == "GraphLaunch" || e.type == "SinkLaunch" {
            let x = left + e.start.microseconds * scale
            svg += "<line x1=\"\(String(format: "%.2f", x))\" y1=\"\(top - 5)\" x2=\"\(String(format: "%.2f", x))\" y2=\"\(top + Double(lanes.count) * laneHeight)\" stroke=\"#888\" stroke-dasharray=\"3,3\"/>\n"
            // Its step number (a sink: the steps it runs).
            svg += "<text x=\"\(String(format: "%.2f", x + 3))\" y=\"\(top - 6)\" font-size=\"9\" fill=\"#555\">\(escape(e.name))</text>\n"
        }
        // Axis: ticks on round values in a unit that fits the span; the last label ends at its tick
        // so the picture's edge never cuts it.
        let axisY = top + Double(lanes.count) * laneHeight + 15
        var t = 0.0
        while t <= end.microseconds * (1 + 1e-9) {
            let x = left + t * scale, anchor = x > width - 60 ? "end" : "middle"
            svg += "<line x1=\"\(String(format: "%.2f", x))\" y1=\"\(axisY - 5)\" x2=\"\(String(format: "%.2f", x))\" y2=\"\(axisY)\" stroke=\"black\"/>"
            svg += "<text x=\"\(String(format: "%.2f", x))\" y=\"\(axisY + 12)\" text-anchor=\"\(anchor)\">\(Self.label(t / axis.perUnit)) \(axis.unit)</text>\n"
            t += axis.tick
        }
        var legendX = left
        for key in ["cube", "vector", "copy", "link", "host"] {
            svg += "<rect x=\"\(legendX)\" y=\"\(axisY + 22)\" width=\"12\" height=\"12\" fill=\"\(colours[key]!)\"/><text x=\"\(legendX + 16)\" y=\"\(axisY + 32)\">\(key)</text>\n"
            legendX += 80
        }
        return svg + "</svg>\n"
    }

    /// The axis for a span of `end`: its unit (µs under 1 ms, ms under 10 s, else s), µs per
    /// unit, and a tick spacing in µs: the largest 1, 2 or 5 times a power of ten at most a fifth
    /// of the span (6 to 13 ticks).
    static func axis(_ end: SimTime) -> (unit: String, perUnit: Double, tick: Double) {
        let span = end.microseconds
        let (unit, perUnit) = span < 1_000 ? ("µs", 1.0) : span < 10_000_000 ? ("ms", 1_000.0) : ("s", 1_000_000.0)
        return (unit, perUnit, niceStep(span / perUnit / 5) * perUnit)
    }

    /// The largest 1, 2 or 5 times a power of ten at most `raw` (> 0): a tick spacing people read.
    public static func niceStep(_ raw: Double) -> Double {
        let power = pow(10, log10(raw).rounded(.down))
        return [5.0, 2, 1].map { $0 * power }.first { $0 <= raw * (1 + 1e-12) } ?? power
    }

    /// A tick value without trailing zeros (0.25, 2, 150).
    static func label(_ v: Double) -> String {
        var text = String(format: "%.3f", v)
        while text.hasSuffix("0") { text.removeLast() }
        if text.hasSuffix(".") { text.removeLast() }
        return text
    }
}
