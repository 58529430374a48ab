import Metrics

/// ACC, ECE, NLL and Brier against σ as an SVG line chart (each metric scaled to its own range).
enum SweepPlot {
    static func svg(_ points: [(Double, MetricReport)], title: String) -> String {
        let w = 640.0, h = 400.0, left = 60.0, right = 150.0, top = 40.0, bottom = 50.0
        let xs = points.map(\.0)
        let xLo = xs.min() ?? 0, xHi = max(xs.max() ?? 1, (xs.min() ?? 0) + 1e-12)
        func x(_ v: Double) -> Double { left + (v - xLo) / (xHi - xLo) * (w - left - right) }
        let series: [(String, String, (MetricReport) -> Double)] = [
            ("ACC", "#1f77b4", { $0.accuracy }), ("ECE", "#d62728", { $0.ece }),
            ("NLL", "#2ca02c", { $0.nll }), ("Brier", "#9467bd", { $0.brier }),
        ]
        var out =
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Int(w))\" height=\"\(Int(h))\" "
            + "font-family=\"sans-serif\" font-size=\"12\">\n"
        out += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
        out += "<text x=\"\(left)\" y=\"22\" font-size=\"14\">\(title)</text>\n"
        out += "<line x1=\"\(left)\" y1=\"\(h - bottom)\" x2=\"\(w - right)\" y2=\"\(h - bottom)\" stroke=\"black\"/>\n"
        for v in xs {
            out += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%.4g</text>\n", x(v), h - bottom + 16, v)
        }
        out += "<text x=\"\((left + w - right) / 2)\" y=\"\(h - 10)\" text-anchor=\"middle\">σ</text>\n"
        for (i, (name, color, value)) in series.enumerated() {
            let ys = points.map { value($0.1) }
            let lo = ys.min() ?? 0, hi = max(ys.max() ?? 1, (ys.min() ?? 0) + 1e-12)
            func y(_ v: Double) -> Double { h - bottom - (v - lo) / (hi - lo) * (h - top - bottom) }
            let path = zip(xs, ys).map { String(format: "%.1f,%.1f", x($0), y($1)) }.joined(separator: " ")
            out += "<polyline fill=\"none\" stroke=\"\(color)\" stroke-width=\"2\" points=\"\(path)\"/>\n"
            out += String(
                format: "<text x=\"%.1f\" y=\"%.1f\" fill=\"%@\">%@ %.4f–%.4f</text>\n", w - right + 10,
                top + 20 * Double(i), color, name, lo, hi)
        }
        return out + "</svg>\n"
    }
}
