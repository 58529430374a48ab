import Metrics
import Records
import Runtime

/// Shapes per-example probabilities for the Metrics module. Tasks with a varying number of choices (ARC
/// has 3 to 5) are padded with zero-probability classes up to the widest example: accuracy, ECE, NLL and
/// Brier are unchanged by a class nobody predicts or is labelled with.
enum MetricInputs {
    static func make(_ predictions: [ExamplePrediction], bins: Int) throws -> (Predictions, Binning) {
        let k = predictions.map { $0.probs?.count ?? 0 }.max() ?? 0
        var flat: [Double] = []
        flat.reserveCapacity(predictions.count * k)
        for p in predictions {
            let probs = p.probs ?? []
            flat += probs
            flat += [Double](repeating: 0, count: k - probs.count)
        }
        return (
            try Predictions(probabilities: flat, labels: predictions.map(\.label), classCount: k),
            try Binning(count: bins)
        )
    }

    static func intervals(
        _ p: Predictions, binning: Binning, resamples: Int, threads: Int
    ) throws -> [BootstrapInterval] {
        guard resamples > 0 else { return [] }
        let b = try Bootstrap(resamples: resamples, level: 0.95, seed: 0)
        return [Metric.accuracy, .ece, .nll, .brier].map {
            b.interval(of: $0, for: p, binning: binning, threads: threads)
        }
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
