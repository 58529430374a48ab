import Metrics
import Records
import Runtime

/// Per-example predictions into the Metrics module's types.
enum MetricInputs {
    static func make(_ predictions: [ExamplePrediction], bins: Int) throws -> (Predictions, Binning) {
        (
            try Predictions(ragged: predictions.map { $0.probs ?? [] }, labels: predictions.map(\.label)),
            try Binning(count: bins)
        )
    }

    static func intervals(
        _ p: Predictions, binning: Binning, resamples: Int, threads: Int
    ) throws -> [BootstrapInterval] {
        try Bootstrap.headlineIntervals(for: p, binning: binning, resamples: resamples, threads: threads)
    }
}

/// The table every evaluating command prints: method, n, ACC, ECE, NLL, Brier.
enum ResultTable {
    /// Several methods, each row's bootstrap intervals on a line of its own below the table.
    static func render(_ results: [MethodResult]) -> String {
        var out = render(results.map { ($0.method.label, $0.metrics) })
        for r in results where !r.intervals.isEmpty {
            out += "\n" + intervalLine(r.intervals, label: " (\(r.method.label))")
        }
        return out
    }

    static func intervalLine(_ intervals: [BootstrapInterval], label: String = "") -> String {
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        return "95% bootstrap intervals\(label): "
            + intervals.map { "\($0.metric.rawValue) [\(f($0.lower)), \(f($0.upper))]" }.joined(separator: ", ")
    }

    static func render(_ rows: [(String, MetricReport)], intervals: [BootstrapInterval] = []) -> String {
        func f(_ x: Double) -> String { String(format: "%.4f", x) }
        var out = Rendering.table(
            header: ["method", "n", "ACC", "ECE", "NLL", "Brier"],
            rows: rows.map { [$0.0, String($0.1.count), f($0.1.accuracy), f($0.1.ece), f($0.1.nll), f($0.1.brier)] })
        if !intervals.isEmpty { out += "\n" + intervalLine(intervals) }
        return out
    }
}
