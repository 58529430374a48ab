import Foundation

/// Okabe & Ito's colour-blind-safe palette, in the order series take it.
enum Palette {
    static let colours = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000", "#F0E442"]
    static func colour(_ i: Int) -> String { colours[i % colours.count] }
}

/// One axis of a panel: a range, linear or log, and ticks a reader can read (1-2-5 steps; decades on a
/// log axis, with 2 and 5 between when there are few decades).
struct ChartAxis {
    var lower: Double
    var upper: Double
    var log = false

    /// A linear axis over `values` with a little room, widened when they are all equal.
    static func fitting(_ values: [Double], includeZero: Bool = false, padding: Double = 0.06) -> ChartAxis {
        var lo = values.min() ?? 0, hi = values.max() ?? 1
        if includeZero { lo = min(lo, 0) }
        if hi - lo < 1e-12 { let d = max(abs(hi) * 0.05, 1e-3); lo -= d; hi += d }
        let pad = (hi - lo) * padding
        return ChartAxis(lower: includeZero && lo == 0 ? 0 : lo - pad, upper: hi + pad)
    }

    static func logFitting(_ values: [Double]) -> ChartAxis {
        let positive = values.filter { $0 > 0 }
        let lo = positive.min() ?? 1e-3, hi = positive.max() ?? 1
        return ChartAxis(lower: lo / 1.4, upper: hi * 1.4, log: true)
    }

    func fraction(_ v: Double) -> Double {
        log
            ? (Foundation.log10(v) - Foundation.log10(lower)) / (Foundation.log10(upper) - Foundation.log10(lower))
            : (v - lower) / (upper - lower)
    }

    var ticks: [Double] {
        if log {
            let first = Int(Foundation.floor(Foundation.log10(lower)))
            let last = Int(Foundation.ceil(Foundation.log10(upper)))
            let multiples: [Double] = last - first <= 2 ? [1, 2, 5] : [1]
            return (first...last).flatMap { e in multiples.map { $0 * Foundation.pow(10, Double(e)) } }
                .filter { $0 >= lower * 0.999 && $0 <= upper * 1.001 }
        }
        let raw = (upper - lower) / 5
        let magnitude = Foundation.pow(10, Foundation.floor(Foundation.log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? raw
        var t = Foundation.ceil(lower / step) * step
        var out: [Double] = []
        while t <= upper + step * 1e-9 { out.append(abs(t) < step * 1e-9 ? 0 : t); t += step }
        return out
    }

    func label(_ v: Double) -> String {
        if log { return String(format: "%g", v) }
        let step = ticks.count > 1 ? ticks[1] - ticks[0] : 1
        let decimals = max(0, min(6, Int(-Foundation.floor(Foundation.log10(step)))))
        return String(format: "%.\(decimals)f", v)
    }
}

/// An SVG document built from panels; every element carries its own styling, so it renders the same
/// inline in HTML and as a file.
struct SVGCanvas {
    let width: Double
    let height: Double
    private(set) var body = ""

    init(width: Double, height: Double) {
        self.width = width
        self.height = height
    }

    mutating func add(_ element: String) { body += element + "\n" }

    mutating func text(
        _ s: String, x: Double, y: Double, anchor: String = "start", size: Double = 12, weight: String = "normal",
        rotate: Double? = nil, colour: String = "#222"
    ) {
        let transform = rotate.map { String(format: " transform=\"rotate(%.0f %.1f %.1f)\"", $0, x, y) } ?? ""
        add(
            String(
                format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%@\" font-size=\"%.0f\" "
                    + "font-weight=\"%@\" fill=\"%@\"%@>%@</text>",
                x, y, anchor, size, weight, colour, transform, SVGCanvas.escape(s)))
    }

    func render(title: String) -> String {
        String(
            format: "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%.0f\" height=\"%.0f\" "
                + "viewBox=\"0 0 %.0f %.0f\" "
                + "font-family=\"Helvetica, Arial, sans-serif\" role=\"img\"><title>%@</title>\n"
                + "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n", width, height, width, height,
            SVGCanvas.escape(title)) + body + "</svg>\n"
    }

    static func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "\"", with: "&quot;")
    }
}

/// One plotting area with its own labelled axes, placed on a canvas.
struct ChartPanel {
    let left: Double, top: Double, width: Double, height: Double
    let x: ChartAxis
    let y: ChartAxis

    func px(_ v: Double) -> Double { left + x.fraction(v) * width }
    func py(_ v: Double) -> Double { top + height - y.fraction(v) * height }

    /// Frame, grid, ticks with labels, axis titles and the panel title.
    func frame(on c: inout SVGCanvas, title: String, xLabel: String, yLabel: String) {
        for t in y.ticks {
            c.add(
                String(
                    format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>", left, py(t),
                    left + width, py(t)))
            c.add(
                String(
                    format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", left - 4, py(t),
                    left, py(t)))
            c.text(y.label(t), x: left - 7, y: py(t) + 4, anchor: "end", size: 11)
        }
        for t in x.ticks {
            c.add(
                String(
                    format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#333\"/>", px(t),
                    top + height, px(t), top + height + 4))
            c.text(x.label(t), x: px(t), y: top + height + 17, anchor: "middle", size: 11)
        }
        c.add(
            String(
                format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" stroke=\"#333\"/>",
                left, top, width, height))
        c.text(title, x: left + width / 2, y: top - 8, anchor: "middle", size: 13, weight: "bold")
        c.text(xLabel, x: left + width / 2, y: top + height + 34, anchor: "middle", size: 12)
        c.text(yLabel, x: left - 44, y: top + height / 2, anchor: "middle", size: 12, rotate: -90)
    }

    func clipped(_ v: Double, _ axis: ChartAxis) -> Double { min(max(v, axis.lower), axis.upper) }

    func line(
        on c: inout SVGCanvas, _ points: [(Double, Double)], colour: String, dash: String? = nil, width w: Double = 2,
        markers: Bool = false
    ) {
        guard !points.isEmpty else { return }
        let path = points.map { String(format: "%.1f,%.1f", px($0.0), py(clipped($0.1, y))) }.joined(separator: " ")
        let dashAttr = dash.map { " stroke-dasharray=\"\($0)\"" } ?? ""
        c.add(
            "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"\(w)\"\(dashAttr) points=\"\(path)\"/>")
        if markers {
            for p in points {
                c.add(
                    String(
                        format: "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"3\" fill=\"%@\"/>", px(p.0), py(clipped(p.1, y)),
                        colour))
            }
        }
    }

    /// A shaded band between lower and upper curves at the same x.
    func band(on c: inout SVGCanvas, _ xs: [Double], lower: [Double], upper: [Double], colour: String) {
        guard xs.count > 1 else { return }
        let top = zip(xs, upper).map { String(format: "%.1f,%.1f", px($0), py(clipped($1, y))) }
        let bottom = zip(xs, lower).reversed().map { String(format: "%.1f,%.1f", px($0), py(clipped($1, y))) }
        c.add(
            "<polygon fill=\"\(colour)\" fill-opacity=\"0.18\" stroke=\"none\" "
                + "points=\"\((top + bottom).joined(separator: " "))\"/>"
        )
    }

    func horizontal(on c: inout SVGCanvas, _ v: Double, colour: String, label: String) {
        guard v >= y.lower, v <= y.upper else { return }
        c.add(
            String(
                format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"1.5\" "
                    + "stroke-dasharray=\"6 4\"/>", left, py(v), left + width, py(v), colour))
        c.text(label, x: left + width - 4, y: py(v) - 4, anchor: "end", size: 10, colour: colour)
    }

    func vertical(on c: inout SVGCanvas, _ v: Double, colour: String, label: String) {
        guard v >= x.lower, v <= x.upper else { return }
        c.add(
            String(
                format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"1.5\" "
                    + "stroke-dasharray=\"2 3\"/>", px(v), top, px(v), top + height, colour))
        c.text(label, x: px(v) + 3, y: top + 12, size: 10, colour: colour)
    }

    func rect(on c: inout SVGCanvas, x0: Double, x1: Double, y0: Double, y1: Double, fill: String, opacity: Double = 1)
    {
        let a = px(x0), b = px(x1), top = py(clipped(max(y0, y1), y)), bottom = py(clipped(min(y0, y1), y))
        c.add(
            String(
                format: "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%@\" fill-opacity=\"%.2f\" "
                    + "stroke=\"white\" stroke-width=\"0.5\"/>", a, top, max(0, b - a), max(0, bottom - top), fill,
                opacity))
    }
}

/// A legend: one swatch and label per series, in a row under the panels.
func chartLegend(on c: inout SVGCanvas, _ entries: [(String, String)], x: Double, y: Double, maxWidth: Double) {
    var cx = x, cy = y
    for (label, colour) in entries {
        let w = 26 + Double(label.count) * 6.6
        if cx + w > x + maxWidth { cx = x; cy += 18 }
        c.add(
            String(
                format: "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%@\" stroke-width=\"3\"/>", cx,
                cy - 4, cx + 18, cy - 4, colour))
        c.text(label, x: cx + 22, y: cy, size: 11)
        cx += w + 10
    }
}
