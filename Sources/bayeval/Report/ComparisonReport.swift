import Foundation
import Metrics
import Records

/// The compare report's content, rendered as Markdown (figures as SVG files beside it) or as one
/// self-contained HTML file (figures inline, no scripts, no network).
struct ComparisonReport {
    struct Table {
        let title: String
        let note: String
        let header: [String]
        let rows: [[String]]
    }

    struct Figure {
        let name: String
        let caption: String
        let svg: String
    }

    let comparison: Comparison
    let runs: [ComparedRun]
    let command: String
    /// The folder every checkpoint shares, left out of the tables so they stay narrow.
    let sharedPrefix: String

    /// "95 %" for the comparison's bootstrap level.
    var levelText: String { String(format: "%g %%", comparison.level * 100) }

    init(comparison: Comparison, runs: [ComparedRun], command: String) {
        self.comparison = comparison
        self.runs = runs
        self.command = command
        sharedPrefix = Self.sharedPrefix(runs.map(\.checkpoint))
    }

    static func f(_ x: Double) -> String { String(format: "%.4f", x) }

    static func meanStd(_ s: TreeGroup.Statistic?) -> String {
        guard let s else { return "" }
        return f(s.mean) + (s.std.map { " ± " + f($0) } ?? "")
    }

    static func withInterval(_ value: Double, _ interval: BootstrapInterval?) -> String {
        guard let i = interval else { return f(value) }
        return f(value) + " [" + f(i.lower) + ", " + f(i.upper) + "]"
    }

    static func sharedPrefix(_ checkpoints: [String]) -> String {
        let paths = checkpoints.map { $0.split(separator: "/", omittingEmptySubsequences: false).map(String.init) }
        guard var prefix = paths.first else { return "" }
        for p in paths.dropFirst() {
            while !prefix.isEmpty && !p.starts(with: prefix) { prefix.removeLast() }
        }
        if paths.contains(where: { $0.count == prefix.count }) { prefix = Array(prefix.dropLast()) }
        return prefix.isEmpty ? "" : prefix.joined(separator: "/") + "/"
    }

    func short(_ checkpoint: String) -> String {
        !sharedPrefix.isEmpty && checkpoint.hasPrefix(sharedPrefix)
            ? String(checkpoint.dropFirst(sharedPrefix.count)) : checkpoint
    }

    var tables: [Table] {
        let groups = Table(
            title: "Methods over seeds",
            note: "Mean ± sample standard deviation over the runs (the seeds, in a seeded tree) of each model, "
                + "task, split, training method and posterior method; no deviation for a single run.",
            header: [
                "model", "task", "split", "training", "method", "runs", "ACC", "ECE", "NLL", "Brier", "MCE", "AURC",
            ],
            rows: comparison.groups.map { g in
                [g.model, g.task, g.split, g.training, g.method, String(g.runs)]
                    + [Metric.accuracy, .ece, .nll, .brier, .mce].map { Self.meanStd(g.statistics[$0]) }
                    + [Self.meanStd(comparison.aurc(of: g))]
            })
        let perRun = Table(
            title: "Runs",
            note: "Each run with \(levelText) percentile bootstrap intervals over its examples"
                + (sharedPrefix.isEmpty ? "." : "; checkpoints under \(sharedPrefix)."),
            header: ["task", "checkpoint", "seed", "method", "row", "n", "ACC", "ECE", "NLL", "Brier"],
            rows: comparison.rows.map { r in
                let m = r.metrics
                func interval(_ metric: Metric) -> BootstrapInterval? { r.intervals.first { $0.metric == metric } }
                return [
                    r.run.task, short(r.run.checkpoint), r.run.seed.map(String.init) ?? "", r.method,
                    r.result.result.method.label, String(m.count),
                    Self.withInterval(m.accuracy, interval(.accuracy)), Self.withInterval(m.ece, interval(.ece)),
                    Self.withInterval(m.nll, interval(.nll)), Self.withInterval(m.brier, interval(.brier)),
                ]
            })
        let paired = Table(
            title: "Paired differences against MAP",
            note: "Method − MAP on the same examples, with \(levelText) paired bootstrap intervals (the same resampled "
                + "examples for both); * marks an interval that excludes 0.",
            header: ["task", "checkpoint", "seed", "method", "baseline", "ΔACC", "ΔECE", "ΔNLL", "ΔBrier"],
            rows: comparison.paired.map { p in
                [
                    p.row.run.task, short(p.row.run.checkpoint), p.row.run.seed.map(String.init) ?? "", p.row.method,
                    p.baseline,
                ]
                    + p.differences.map { d in
                        String(format: "%+.4f [%+.4f, %+.4f]", d.estimate, d.lower, d.upper)
                            + (d.lower > 0 || d.upper < 0 ? " *" : "")
                    }
            })
        return [groups, perRun] + (comparison.paired.isEmpty ? [] : [paired])
    }

    var figures: [Figure] {
        var out: [Figure] = []
        for (i, panel) in comparison.panels.enumerated() {
            out.append(
                Figure(
                    name: "reliability-\(i + 1)",
                    caption:
                        "Reliability of \(panel.model) on \(panel.task) (\(panel.training)), predictions pooled "
                        + "over each method's runs: accuracy per confidence bin (bars), the gap to the diagonal "
                        + "(shaded), bin counts below.",
                    svg: ReportFigures.reliability(panel)))
            out.append(
                Figure(
                    name: "risk-coverage-\(i + 1)",
                    caption:
                        "Risk–coverage of \(panel.model) on \(panel.task) (\(panel.training)): the error rate "
                        + "among the most "
                        + "confident examples as coverage grows; lower is better (AURC in the legend).",
                    svg: ReportFigures.riskCoverage(panel)))
        }
        var tasks: [String] = []
        for t in comparison.priorCurves.map(\.row.run.task) where !tasks.contains(t) { tasks.append(t) }
        for (i, task) in tasks.enumerated() {
            let curves = comparison.priorCurves.filter { $0.row.run.task == task }
            out.append(
                Figure(
                    name: "laplace-prior-\(i + 1)",
                    caption: "Laplace on \(task): log marginal likelihood against a scalar prior precision δ for each "
                        + "posterior; the circle marks the δ each run used (by its prior method: marglik, grid, "
                        + "fixed).",
                    svg: ReportFigures.priorCurves(
                        curves, title: "Laplace marginal likelihood: \(task)",
                        label: {
                            "\(short($0.row.run.checkpoint)) \($0.row.result.result.method.label) (\($0.priorMethod))"
                        })))
        }
        for (i, sweep) in comparison.sweeps.enumerated() {
            out.append(
                Figure(
                    name: "sigma-sweep-\(i + 1)",
                    caption: "TFB σ sweep of \(sweep.run.checkpoint) on \(sweep.run.task): test metrics against σ, "
                        + "\(levelText) bootstrap bands, MAP dashed"
                        + (sweep.searchedSigma != nil ? ", σ* of the search marked." : "."),
                    svg: ReportFigures.sweep(
                        sweep.points.map { ($0.sigma, $0.metrics, $0.intervals) }, map: sweep.map,
                        sigmaStar: sweep.searchedSigma, title: "TFB σ sweep: \(sweep.run.task)",
                        bandLabel: "\(levelText) bootstrap band")))
        }
        return out
    }

    /// Per run: its record, how it was made, and the SHA-256 of every input.
    var provenance: [(title: String, lines: [String])] {
        runs.map { run in
            let r = run.record
            let c = r.configuration
            var lines = [
                "record: \(run.recordPath) (\(r.command.rawValue), bayeval \(r.bayevalVersion), \(r.createdAt))",
                "settings: " + c.keys.sorted().map { "\($0)=\(c[$0]!)" }.joined(separator: " "),
            ]
            lines += r.inputs.map { "\($0.role) \($0.path) sha256:\($0.sha256)" }
            return (run.recordPath, lines)
        }
    }

    // MARK: Markdown

    func markdown(figureDirectory: String) -> String {
        var out = "# Posterior comparison\n\n"
        out += "\(runs.count) run record(s); made by `\(command)`.\n\n"
        for w in comparison.warnings { out += "> **Warning:** \(w)\n\n" }
        for t in tables {
            out += "## \(t.title)\n\n\(t.note)\n\n"
            out += "| " + t.header.joined(separator: " | ") + " |\n"
            out += "|" + t.header.map { _ in "---" }.joined(separator: "|") + "|\n"
            for row in t.rows {
                out +=
                    "| " + row.map { $0.replacingOccurrences(of: "|", with: "\\|") }.joined(separator: " | ") + " |\n"
            }
            out += "\n"
        }
        out += "## Figures\n\n"
        for f in figures { out += "![\(f.caption)](\(figureDirectory)/\(f.name).svg)\n\n*\(f.caption)*\n\n" }
        out += "## Provenance\n\n"
        for p in provenance {
            out += "- `\(p.title)`\n" + p.lines.map { "  - `\($0)`\n" }.joined()
        }
        return out
    }

    // MARK: HTML

    func html() -> String {
        func e(_ s: String) -> String { SVGCanvas.escape(s) }
        var out = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8">
            <meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Posterior comparison</title>
            <style>
            body { font-family: Helvetica, Arial, sans-serif; margin: 2em auto; max-width: 1100px; color: #222;
                   padding: 0 1em; }
            table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 13px; }
            th, td { border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right; white-space: nowrap; }
            th:nth-child(-n+3), td:nth-child(-n+3) { text-align: left; }
            th { background: #f3f3f3; }
            figure { margin: 1.5em 0; overflow-x: auto; }
            figcaption { font-size: 13px; color: #444; max-width: 900px; }
            .warning { background: #fff4e5; border-left: 4px solid #E69F00; padding: 0.5em 1em; }
            .note { color: #555; font-size: 13px; }
            .provenance { font-family: monospace; font-size: 12px; word-break: break-all; }
            </style></head><body>
            <h1>Posterior comparison</h1>

            """
        out += "<p>\(runs.count) run record(s); made by <code>\(e(command))</code>.</p>\n"
        for w in comparison.warnings { out += "<p class=\"warning\">\(e(w))</p>\n" }
        for t in tables {
            out += "<h2>\(e(t.title))</h2>\n<p class=\"note\">\(e(t.note))</p>\n<table><thead><tr>"
            out += t.header.map { "<th>\(e($0))</th>" }.joined() + "</tr></thead><tbody>\n"
            for row in t.rows { out += "<tr>" + row.map { "<td>\(e($0))</td>" }.joined() + "</tr>\n" }
            out += "</tbody></table>\n"
        }
        out += "<h2>Figures</h2>\n"
        for f in figures {
            out += "<figure id=\"\(f.name)\">\n\(f.svg)<figcaption>\(e(f.caption))</figcaption></figure>\n"
        }
        out += "<h2>Provenance</h2>\n"
        for p in provenance {
            out += "<details><summary><code>\(e(p.title))</code></summary><ul class=\"provenance\">"
            out += p.lines.map { "<li>\(e($0))</li>" }.joined() + "</ul></details>\n"
        }
        return out + "</body></html>\n"
    }
}
