import Foundation
import Metrics

/// One (checkpoint, posterior method) run of a tree, as `summary.json` and `summary.csv` list it.
public struct TreeRun: Codable, Sendable, Equatable {
    public var checkpoint: String
    /// The base model's name (the last component of its path); runs of different models never group.
    public var model: String
    public var task: String
    public var split: String
    public var seed: Int?
    public var training: String
    /// The method as `--methods` names it (map, tfb, laplace-kron-probit, …).
    public var method: String
    /// The result row's label in its run.json ("TFB", "Laplace kron probit", …).
    public var label: String
    /// done, failed or skipped.
    public var status: String
    /// The run record, relative to the tree's output root.
    public var runRecord: String
    public var n: Int?
    public var accuracy: Double?
    public var ece: Double?
    public var nll: Double?
    public var brier: Double?
    public var mce: Double?
    public var message: String?

    public init(
        checkpoint: String, model: String, task: String, split: String, seed: Int?, training: String, method: String,
        label: String, status: String, runRecord: String, metrics: MetricReport? = nil, message: String? = nil
    ) {
        self.checkpoint = checkpoint; self.model = model; self.task = task; self.split = split
        self.seed = seed; self.training = training
        self.method = method; self.label = label; self.status = status; self.runRecord = runRecord
        self.message = message
        if let metrics {
            n = metrics.count; accuracy = metrics.accuracy; ece = metrics.ece; nll = metrics.nll
            brier = metrics.brier; mce = metrics.mce
        }
    }
}

/// Runs grouped as the papers report them: (task, training method, posterior method) for one model and
/// split, mean ± standard deviation over its runs (the seeds, in a seeded tree; the sample deviation,
/// n − 1; none for a single run). Grouped by the method's name, not its label: labels carry per-run values
/// (a temperature, a σ).
public struct TreeGroup: Sendable, Equatable {
    public struct Statistic: Sendable, Equatable {
        public let mean: Double
        public let std: Double?
    }
    public let model: String
    public let task: String
    public let split: String
    public let training: String
    public let method: String
    public let runs: Int
    public let statistics: [Metric: Statistic]
}

public enum TreeSummary {
    public static let metrics: [Metric] = [.accuracy, .ece, .nll, .brier, .mce]

    static func value(_ run: TreeRun, _ metric: Metric) -> Double? {
        switch metric {
        case .accuracy: run.accuracy
        case .ece: run.ece
        case .nll: run.nll
        case .brier: run.brier
        case .mce: run.mce
        default: nil
        }
    }

    /// Finished runs grouped by (model, task, split, training, method), in first-seen order.
    public static func groups(_ runs: [TreeRun]) -> [TreeGroup] {
        var order: [String] = []
        var members: [String: [TreeRun]] = [:]
        for run in runs where run.status == "done" {
            let key = key(run)
            if members[key] == nil { order.append(key) }
            members[key, default: []].append(run)
        }
        return order.map { key in
            let group = members[key]!
            var statistics: [Metric: TreeGroup.Statistic] = [:]
            for metric in metrics {
                let values = group.compactMap { value($0, metric) }
                guard !values.isEmpty else { continue }
                statistics[metric] = summarise(values)
            }
            return TreeGroup(
                model: group[0].model, task: group[0].task, split: group[0].split, training: group[0].training,
                method: group[0].method, runs: group.count,
                statistics: statistics)
        }
    }

    /// What runs must share to be averaged together.
    public static func key(_ run: TreeRun) -> String {
        [run.model, run.task, run.split, run.training, run.method].joined(separator: "\u{1F}")
    }

    public static func key(_ group: TreeGroup) -> String {
        [group.model, group.task, group.split, group.training, group.method].joined(separator: "\u{1F}")
    }

    public static func summarise(_ values: [Double]) -> TreeGroup.Statistic {
        let mean = values.reduce(0, +) / Double(values.count)
        guard values.count > 1 else { return .init(mean: mean, std: nil) }
        let variance = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(values.count - 1)
        return .init(mean: mean, std: variance.squareRoot())
    }

    /// One row per run, RFC 4180 quoting, empty cells for missing values: `pandas.read_csv` reads it as is.
    public static func csv(_ runs: [TreeRun]) -> String {
        let header = [
            "checkpoint", "model", "task", "split", "seed", "training", "method", "label", "status", "n", "accuracy",
            "ece", "nll",
            "brier", "mce", "run_record", "message",
        ]
        func cell(_ s: String) -> String {
            s.contains(where: { ",\"\n\r".contains($0) })
                ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s
        }
        func number(_ x: Double?) -> String { x.map { String(format: "%.17g", $0) } ?? "" }
        let rows = runs.map { r in
            [
                r.checkpoint, r.model, r.task, r.split, r.seed.map(String.init) ?? "", r.training, r.method, r.label,
                r.status,
                r.n.map(String.init) ?? "", number(r.accuracy), number(r.ece), number(r.nll), number(r.brier),
                number(r.mce), r.runRecord, r.message ?? "",
            ].map(cell).joined(separator: ",")
        }
        return ([header.joined(separator: ",")] + rows).joined(separator: "\n") + "\n"
    }
}
