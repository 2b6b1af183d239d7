import Foundation
import NPUProfile
import NPUScript

extension DriftStudy {
    /// `drift.svg`: two panels against steps — every replica's loss, and every replica's parameter
    /// distance from replica 0 on a log scale — one colour per replica. In sink mode the sink ends
    /// are marked, the losses the host saw are dots and the hidden per-step losses a thin line.
    public func svg(title: String) -> String {
        let width = 900.0, panel = 260.0, left = 70.0, right = 20.0, top = 50.0, gap = 60.0
        let steps = rows.map(\.step).max() ?? 1
        let plotWidth = width - left - right
        func x(_ step: Int) -> Double { left + plotWidth * (steps > 1 ? Double(step - 1) / Double(steps - 1) : 0.5) }
        let colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
        func colour(_ r: Int) -> String { colours[r % colours.count] }
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        let sink = rows.contains { !$0.visible }
        var svg = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(top + 2 * panel + gap + 70))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(left)" y="22" font-size="14">\(TimelineSVG.escape(title))</text>

        """
        // Panel 1: losses (linear).
        let losses = rows.map { Double($0.loss) }.filter(\.isFinite)
        var lo = losses.min() ?? 0, hi = losses.max() ?? 1
        if hi - lo < 1e-12 { (lo, hi) = (lo - 0.5, hi + 0.5) }
        func y1(_ v: Double) -> Double { top + panel - panel * (v - lo) / (hi - lo) }
        // Ticks on round values (a nice spacing, at least four of them inside the panel).
        let lossTick = TimelineSVG.niceStep((hi - lo) / 4)
        let lossTicks = stride(from: (lo / lossTick).rounded(.up) * lossTick, through: hi + lossTick * 1e-9, by: lossTick).map { v in
            (y1(v), String(format: "%.6g", abs(v) < lossTick * 1e-9 ? 0 : v))
        }
        svg += axes(top: top, height: panel, left: left, width: plotWidth, label: "loss", ticks: lossTicks, steps: steps, x: x)
        // Panel 2: parameter distance (log10), replicas 1…, only where the parameters were read.
        let top2 = top + panel + gap
        let distances = rows.compactMap { r in r.replica > 0 ? r.paramL2 : nil }.filter { $0 > 0 }
        let dlo = floor(log10(distances.min() ?? 1e-8)), dhi = max(ceil(log10(distances.max() ?? 1e-7)), dlo + 1)
        func y2(_ d: Double) -> Double { top2 + panel - panel * (log10(d) - dlo) / (dhi - dlo) }
        svg += axes(top: top2, height: panel, left: left, width: plotWidth, label: "parameter L2 distance to replica 0 (log scale)",
                    ticks: stride(from: dlo, through: dhi, by: 1).map { (y2(pow(10, $0)), "1e\(Int($0))") }, steps: steps, x: x)
        if distances.isEmpty {
            svg += "<text x=\"\(f(left + 10))\" y=\"\(f(top2 + panel / 2))\">every replica's parameters are bit-identical to replica 0's: no distance to draw</text>\n"
        } else {
            svg += "<text x=\"\(f(left + plotWidth - 6))\" y=\"\(f(top2 + 14))\" text-anchor=\"end\" fill=\"\(colour(0))\">replica 0 is the reference: its distance is 0</text>\n"
        }
        // Sink ends: where the host saw a loss.
        if sink {
            for step in Set(rows.filter(\.visible).map(\.step)).sorted() {
                for (t, h) in [(top, panel), (top2, panel)] {
                    svg += "<line x1=\"\(f(x(step)))\" y1=\"\(f(t))\" x2=\"\(f(x(step)))\" y2=\"\(f(t + h))\" stroke=\"#bbb\" stroke-dasharray=\"3,3\"/>\n"
                }
            }
        }
        // Replica 0 drawn last and wider, under its dashes the others show where they part from it
        // (drawn first, it lay hidden under replicas with the same losses).
        for r in (0..<replicas).reversed() {
            let mine = rows.filter { $0.replica == r }
            let points = mine.filter { $0.loss.isFinite }.map { "\(f(x($0.step))),\(f(y1(Double($0.loss))))" }
            if points.count > 1 {
                let width = r == 0 ? (sink ? 1.6 : 3) : (sink ? 0.8 : 1.5), dashes = r == 0 && replicas > 1 ? " stroke-dasharray=\"6,4\"" : ""
                svg += "<polyline fill=\"none\" stroke=\"\(colour(r))\" stroke-width=\"\(width)\"\(dashes) points=\"\(points.joined(separator: " "))\"><title>replica \(r)</title></polyline>\n"
            }
            for m in mine where m.visible && sink && m.loss.isFinite {
                svg += "<circle cx=\"\(f(x(m.step)))\" cy=\"\(f(y1(Double(m.loss))))\" r=\"3\" fill=\"\(colour(r))\"><title>replica \(r), step \(m.step): \(m.loss) (the host saw it)</title></circle>\n"
            }
            guard r > 0 else { continue }
            let far = mine.compactMap { m in m.paramL2.flatMap { $0 > 0 ? "\(f(x(m.step))),\(f(y2($0)))" : nil } }
            if far.count > 1 {
                svg += "<polyline fill=\"none\" stroke=\"\(colour(r))\" stroke-width=\"1.5\" points=\"\(far.joined(separator: " "))\"><title>replica \(r)</title></polyline>\n"
            } else if let only = far.first {
                let xy = only.split(separator: ",")
                svg += "<circle cx=\"\(xy[0])\" cy=\"\(xy[1])\" r=\"3\" fill=\"\(colour(r))\"/>\n"
            }
        }
        // Legend.
        var lx = left
        let ly = top2 + panel + 45
        for r in 0..<replicas {
            let what = vary == .seed ? "seed \(seeds[r])" : vary == .order ? "order seed \(orderSeeds[r])" : "seed \(seeds[r]), order seed \(orderSeeds[r])"
            let label = "replica \(r) (\(what))"
            svg += "<rect x=\"\(f(lx))\" y=\"\(f(ly - 9))\" width=\"12\" height=\"4\" fill=\"\(colour(r))\"/><text x=\"\(f(lx + 16))\" y=\"\(f(ly - 4))\">\(TimelineSVG.escape(label))</text>\n"
            lx += Double(label.count) * 6.2 + 34
            if lx > width - 200 { break }
        }
        if sink {
            svg += "<text x=\"\(f(left))\" y=\"\(f(ly + 14))\">dots: the losses the host saw (one per sink, dashed lines); thin lines: every step's loss, hidden inside the sinks</text>\n"
        }
        return svg + "</svg>\n"
    }

    private func axes(top: Double, height: Double, left: Double, width: Double, label: String, ticks: [(Double, String)],
                      steps: Int, x: (Int) -> Double) -> String {
        func f(_ v: Double) -> String { String(format: "%.1f", v) }
        var s = "<rect x=\"\(f(left))\" y=\"\(f(top))\" width=\"\(f(width))\" height=\"\(f(height))\" fill=\"none\" stroke=\"#444\"/>\n"
        s += "<text x=\"\(f(left))\" y=\"\(f(top - 6))\">\(TimelineSVG.escape(label))</text>\n"
        for (y, text) in ticks {
            s += "<line x1=\"\(f(left - 4))\" y1=\"\(f(y))\" x2=\"\(f(left))\" y2=\"\(f(y))\" stroke=\"#444\"/>"
            s += "<line x1=\"\(f(left))\" y1=\"\(f(y))\" x2=\"\(f(left + width))\" y2=\"\(f(y))\" stroke=\"#eee\"/>"
            s += "<text x=\"\(f(left - 6))\" y=\"\(f(y + 4))\" text-anchor=\"end\">\(TimelineSVG.escape(text))</text>\n"
        }
        // Step 1, then round multiples of a nice spacing.
        let spacing = max(1, Int(TimelineSVG.niceStep(Double(max(steps - 1, 1)) / 5)))
        let tickSteps = [1] + stride(from: spacing, through: steps, by: spacing).filter { $0 > 1 }
        for step in tickSteps {
            s += "<line x1=\"\(f(x(step)))\" y1=\"\(f(top + height))\" x2=\"\(f(x(step)))\" y2=\"\(f(top + height + 4))\" stroke=\"#444\"/>"
            s += "<text x=\"\(f(x(step)))\" y=\"\(f(top + height + 16))\" text-anchor=\"middle\">\(step)</text>\n"
        }
        s += "<text x=\"\(f(left + width))\" y=\"\(f(top + height + 30))\" text-anchor=\"end\">step</text>\n"
        return s
    }
}
