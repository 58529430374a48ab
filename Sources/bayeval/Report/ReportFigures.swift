import Foundation
import Metrics
import Records

/// The report's figures as SVG: one panel per metric, each with its own labelled axes.
enum ReportFigures {
    /// A metric against σ on a log axis, one panel each for ACC, ECE, NLL and Brier: bootstrap bands where
    /// the points carry intervals, MAP as a dashed line, σ* marked.
    static func sweep(
        _ points: [(sigma: Double, metrics: MetricReport, intervals: [BootstrapInterval])], map: MetricReport?,
        sigmaStar: Double?, title: String, bandLabel: String = "95 % bootstrap band"
    ) -> String {
        let metrics: [(Metric, String)] = [(.accuracy, "ACC"), (.ece, "ECE"), (.nll, "NLL"), (.brier, "Brier")]
        let panelW = 300.0, panelH = 190.0, gapX = 90.0, gapY = 85.0, left = 70.0, top = 60.0
        var c = SVGCanvas(width: left + 2 * panelW + gapX + 30, height: top + 2 * panelH + gapY + 70)
        c.text(title, x: 20, y: 24, size: 15, weight: "bold")
        let sigmas = points.map(\.sigma).filter { $0 > 0 }
        let xAxis = ChartAxis.logFitting(sigmas + (sigmaStar.map { [$0] } ?? []))
        for (i, (metric, name)) in metrics.enumerated() {
            let values = points.filter { $0.sigma > 0 }.map { $0.metrics[metric] }
            let bounds = points.flatMap { p in
                p.intervals.filter { $0.metric == metric }.flatMap { [$0.lower, $0.upper] }
            }
            let panel = ChartPanel(
                left: left + Double(i % 2) * (panelW + gapX), top: top + Double(i / 2) * (panelH + gapY),
                width: panelW, height: panelH, x: xAxis,
                y: ChartAxis.fitting(values + bounds + (map.map { [$0[metric]] } ?? [])))
            panel.frame(on: &c, title: name, xLabel: "σ (log scale)", yLabel: name)
            let shown = points.filter { $0.sigma > 0 }
            let lower = shown.compactMap { p in p.intervals.first { $0.metric == metric }?.lower }
            let upper = shown.compactMap { p in p.intervals.first { $0.metric == metric }?.upper }
            if lower.count == shown.count {
                panel.band(on: &c, shown.map(\.sigma), lower: lower, upper: upper, colour: Palette.colour(0))
            }
            panel.line(on: &c, shown.map { ($0.sigma, $0.metrics[metric]) }, colour: Palette.colour(0), markers: true)
            if let map { panel.horizontal(on: &c, map[metric], colour: Palette.colour(3), label: "MAP") }
            if let sigmaStar {
                panel.vertical(on: &c, sigmaStar, colour: "#555", label: String(format: "σ* = %.3g", sigmaStar))
            }
        }
        var legend = [("TFB (Monte Carlo)", Palette.colour(0))]
        if map != nil { legend.append(("MAP (dashed)", Palette.colour(3))) }
        if points.contains(where: { !$0.intervals.isEmpty }) { legend.append((bandLabel, "#9ecae1")) }
        chartLegend(on: &c, legend, x: left, y: c.height - 16, maxWidth: c.width - left)
        return c.render(title: title)
    }

    /// Reliability diagrams, one column per method: accuracy per confidence bin against the diagonal, the
    /// gap to it shaded, and the bin counts (the confidence histogram) below.
    static func reliability(_ panel: Comparison.Panel) -> String {
        let n = panel.series.count
        let perRow = min(n, 4)
        let rows = (n + perRow - 1) / perRow
        let w = 210.0, h = 190.0, histH = 70.0, gapX = 70.0, left = 60.0, top = 60.0
        let blockH = h + histH + 110
        var c = SVGCanvas(width: left + Double(perRow) * (w + gapX), height: top + Double(rows) * blockH)
        let title = "Reliability: \(panel.model), \(panel.task), \(panel.training)"
        c.text(title, x: 20, y: 24, size: 15, weight: "bold")
        for (i, s) in panel.series.enumerated() {
            let x0 = left + Double(i % perRow) * (w + gapX), y0 = top + Double(i / perRow) * blockH
            let unit = ChartAxis(lower: 0, upper: 1)
            let diagram = ChartPanel(left: x0, top: y0, width: w, height: h, x: unit, y: unit)
            diagram.frame(
                on: &c, title: "\(s.method) (\(s.runs) run\(s.runs == 1 ? "" : "s"))", xLabel: "", yLabel: "accuracy")
            let colour = Palette.colour(i)
            for bin in s.reliability where bin.count > 0 && bin.upper > bin.lower {
                diagram.rect(on: &c, x0: bin.lower, x1: bin.upper, y0: 0, y1: bin.accuracy, fill: colour, opacity: 0.85)
                diagram.rect(
                    on: &c, x0: bin.lower, x1: bin.upper, y0: bin.accuracy, y1: bin.meanConfidence, fill: "#D55E00",
                    opacity: 0.35)
            }
            diagram.line(on: &c, [(0, 0), (1, 1)], colour: "#444", dash: "5 4", width: 1.2)
            c.text(String(format: "ECE %.4f", s.metrics.ece), x: x0 + 6, y: y0 + 16, size: 11)
            // The point bin [1, 1] (confidence exactly 1) is drawn with the last bin it borders.
            var bins = s.reliability.filter { $0.upper > $0.lower }.map { ($0.lower, $0.upper, Double($0.count)) }
            if let point = s.reliability.last, point.upper == point.lower, !bins.isEmpty {
                bins[bins.count - 1].2 += Double(point.count)
            }
            let counts = bins.map(\.2)
            let histogram = ChartPanel(
                left: x0, top: y0 + h + 18, width: w, height: histH, x: unit,
                y: ChartAxis(lower: 0, upper: max(1, counts.max() ?? 1) * 1.1))
            histogram.frame(on: &c, title: "", xLabel: "confidence", yLabel: "count")
            for (lower, upper, count) in bins where count > 0 {
                histogram.rect(on: &c, x0: lower, x1: upper, y0: 0, y1: count, fill: colour, opacity: 0.7)
            }
        }
        chartLegend(
            on: &c, [("accuracy per bin", Palette.colour(0)), ("gap to the diagonal", "#D55E00")], x: left,
            y: c.height - 14, maxWidth: c.width - left)
        return c.render(title: title)
    }

    /// Log marginal likelihood against the prior precision (log axis) for the Laplace rows of one task,
    /// one line per run, each run's chosen prior marked with a dot.
    static func priorCurves(
        _ curves: [Comparison.PriorCurve], title: String, label: (Comparison.PriorCurve) -> String
    )
        -> String
    {
        let left = 80.0, top = 50.0, w = 460.0, h = 260.0
        var c = SVGCanvas(width: left + w + 40, height: top + h + 60 + 18 * Double((curves.count + 1) / 2))
        c.text(title, x: 20, y: 24, size: 15, weight: "bold")
        let priors = curves.flatMap { $0.points.map(\.prior) }
        let values = curves.flatMap { $0.points.map(\.logMarginalLikelihood) }
        let chart = ChartPanel(
            left: left, top: top, width: w, height: h, x: ChartAxis.logFitting(priors), y: ChartAxis.fitting(values))
        chart.frame(on: &c, title: "", xLabel: "prior precision δ (log scale)", yLabel: "log marginal likelihood")
        for (i, curve) in curves.enumerated() {
            let colour = Palette.colour(i)
            chart.line(on: &c, curve.points.map { ($0.prior, $0.logMarginalLikelihood) }, colour: colour)
            // The prior used, at its own marginal likelihood (a layerwise prior is not a point of this curve).
            if let value = curve.chosenValue, curve.chosen > 0, curve.chosen >= chart.x.lower,
                curve.chosen <= chart.x.upper
            {
                c.add(
                    String(
                        format:
                            "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"white\" stroke=\"%@\" "
                            + "stroke-width=\"2\"/>",
                        chart.px(curve.chosen), chart.py(chart.clipped(value, chart.y)), colour))
            }
        }
        chartLegend(
            on: &c, curves.enumerated().map { (label($0.element), Palette.colour($0.offset)) }, x: left,
            y: top + h + 56, maxWidth: w)
        return c.render(title: title)
    }

    /// Risk against coverage for every method of a panel, with each one's AURC in the legend.
    static func riskCoverage(_ panel: Comparison.Panel) -> String {
        let left = 70.0, top = 50.0, w = 460.0, h = 260.0
        var c = SVGCanvas(width: left + w + 40, height: top + h + 100)
        let title = "Risk–coverage: \(panel.model), \(panel.task), \(panel.training)"
        c.text(title, x: 20, y: 24, size: 15, weight: "bold")
        let curves = panel.series.map { $0.riskCoverage.points(count: 200) }
        let risks = curves.flatMap { $0.map(\.risk) }
        let chart = ChartPanel(
            left: left, top: top, width: w, height: h, x: ChartAxis(lower: 0, upper: 1),
            y: ChartAxis.fitting(risks, includeZero: true))
        chart.frame(on: &c, title: "", xLabel: "coverage", yLabel: "risk (error rate)")
        for (i, curve) in curves.enumerated() {
            chart.line(on: &c, curve.map { ($0.coverage, $0.risk) }, colour: Palette.colour(i))
        }
        chartLegend(
            on: &c,
            panel.series.enumerated().map {
                (
                    String(format: "%@ (AURC %.4f)", $0.element.method, $0.element.riskCoverage.aurc),
                    Palette.colour($0.offset)
                )
            }, x: left, y: top + h + 58, maxWidth: w)
        return c.render(title: title)
    }
}
