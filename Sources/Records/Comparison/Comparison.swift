import Foundation
import Metrics

/// What the compare report shows, computed from run records and their predictions: per-run metrics with
/// bootstrap intervals and AURC, groups over seeds, paired differences against MAP, pooled reliability
/// and risk–coverage per (task, training) panel, and σ sweeps. Rendering lives with the CLI.
public struct Comparison: Sendable {
    public struct Row: Sendable {
        public let run: ComparedRun
        public let result: ComparedResult
        /// Recomputed from the predictions with the report's bins, so the ECE beside its interval and in
        /// the diagrams is one binning's.
        public let metrics: MetricReport
        public var method: String { result.method }
        /// Percentile intervals (at the comparison's `level`) of ACC, ECE, NLL and Brier (none with 0 resamples).
        public let intervals: [BootstrapInterval]
        public let aurc: Double
    }

    /// candidate − MAP on the same examples, with paired bootstrap intervals.
    public struct Paired: Sendable {
        public let row: Row
        /// "same run" (the run's own MAP row) or the MAP run of the same checkpoint.
        public let baseline: String
        public let differences: [BootstrapInterval]
    }

    /// One (model, task, split, training) panel: each method's predictions pooled over its runs.
    public struct Panel: Sendable {
        public struct Series: Sendable {
            public let method: String
            public let runs: Int
            public let reliability: [ReliabilityBin]
            public let riskCoverage: RiskCoverage
            public let metrics: MetricReport
        }
        public let model: String
        public let task: String
        public let training: String
        public let series: [Series]
    }

    public struct Sweep: Sendable {
        public struct Point: Sendable {
            public let sigma: Double
            public let metrics: MetricReport
            public let intervals: [BootstrapInterval]
        }
        public let run: ComparedRun
        public let points: [Point]
        public let map: MetricReport?
        /// σ* of a search run on the same checkpoint and task, where one was compared too.
        public let searchedSigma: Double?
    }

    /// A Laplace row's log marginal likelihood against a scalar prior precision, and the prior it chose.
    public struct PriorCurve: Sendable {
        public let row: Row
        public let points: [(prior: Double, logMarginalLikelihood: Double)]
        public let chosen: Double
        /// The log marginal likelihood at `chosen`; nil for a layerwise prior (not on the scalar curve).
        public let chosenValue: Double?
        public let priorMethod: String
    }

    public let rows: [Row]
    public let groups: [TreeGroup]
    public let priorCurves: [PriorCurve]
    /// AURC mean ± std per group, keyed like `groups` (`TreeSummary.key`).
    public let groupAURC: [String: TreeGroup.Statistic]
    public let paired: [Paired]
    public let panels: [Panel]
    public let sweeps: [Sweep]
    public let warnings: [String]

    public func aurc(of group: TreeGroup) -> TreeGroup.Statistic? { groupAURC[TreeSummary.key(group)] }

    static func treeRun(_ row: Row) -> TreeRun {
        TreeRun(
            checkpoint: row.run.checkpoint, model: row.run.model, task: row.run.task, split: row.run.split,
            seed: row.run.seed, training: row.run.training, method: row.method, label: row.result.result.method.label,
            status: "done", runRecord: row.run.recordPath, metrics: row.metrics)
    }

    public static let headline: [Metric] = [.accuracy, .ece, .nll, .brier]

    /// The bootstrap intervals' coverage (0.95: 95 % intervals).
    public let level: Double

    /// `level` and `seed` are the bootstrap's: every interval and paired difference resamples the same way.
    public init(
        runs: [ComparedRun], bins: Int, resamples: Int, threads: Int, level: Double = 0.95, seed: UInt64 = 0
    ) throws {
        self.level = level
        let binning = try Binning(count: bins)
        func predictions(_ r: ComparedResult) throws -> Predictions {
            try Predictions(ragged: r.predictions.map { $0.probs! }, labels: r.predictions.map(\.label))
        }
        var rows: [Row] = []
        var warnings: [String] = []
        for run in runs where !run.isSweep {
            for result in run.results {
                let p = try predictions(result)
                let intervals = try Bootstrap.headlineIntervals(
                    for: p, binning: binning, resamples: resamples, threads: threads, level: level, seed: seed)
                rows.append(
                    Row(
                        run: run, result: result, metrics: MetricReport(p, binning: binning), intervals: intervals,
                        aurc: RiskCoverage(p).aurc))
            }
        }
        // Runs of one model, task and split together, in first-seen order; MAP first within them: the
        // reference every other method is read against (and the first colour).
        var firstSeen: [String: Int] = [:]
        for row in rows {
            let k = [row.run.model, row.run.task, row.run.split].joined(separator: "\u{1F}")
            if firstSeen[k] == nil { firstSeen[k] = firstSeen.count }
        }
        rows = rows.enumerated().sorted { a, b in
            let ka = firstSeen[
                [a.element.run.model, a.element.run.task, a.element.run.split].joined(separator: "\u{1F}")]!
            let kb = firstSeen[
                [b.element.run.model, b.element.run.task, b.element.run.split].joined(separator: "\u{1F}")]!
            if ka != kb { return ka < kb }
            let ma = a.element.method == "map", mb = b.element.method == "map"
            return ma != mb ? ma : a.offset < b.offset
        }.map(\.element)
        self.rows = rows
        // One curve per fitted structure of a run (its links share the posterior and the prior).
        var curveSeen = Set<String>()
        priorCurves = rows.compactMap { row in
            guard let details = row.result.result.method.laplace, let curve = details.marginalLikelihoodCurve,
                curveSeen.insert(row.run.recordPath + "\u{1F}" + details.hessian).inserted
            else { return nil }
            let points = curve.filter { $0.count == 2 && $0[0] > 0 && $0[1].isFinite }
                .map { (prior: $0[0], logMarginalLikelihood: $0[1]) }
            return points.isEmpty
                ? nil
                : PriorCurve(
                    row: row, points: points, chosen: details.priorPrecision,
                    chosenValue: details.priorStructure == "layerwise" ? nil : details.logMarginalLikelihood,
                    priorMethod: details.priorMethod)
        }
        groups = TreeSummary.groups(rows.map(Self.treeRun))
        var aurcs: [String: [Double]] = [:]
        for row in rows { aurcs[TreeSummary.key(Self.treeRun(row)), default: []].append(row.aurc) }
        groupAURC = aurcs.mapValues(TreeSummary.summarise)

        // Paired differences against MAP on the same examples.
        var paired: [Paired] = []
        if resamples > 0 {
            let bootstrap = try Bootstrap(resamples: resamples, level: level, seed: seed)
            let maps = rows.filter { $0.method == "map" }
            for row in rows where row.method != "map" {
                let baseline: (ComparedResult, String, ComparedRun)?
                if let own = row.run.reference {
                    baseline = (own, "same run", row.run)
                } else if let map = maps.first(where: { $0.run.pairingKey == row.run.pairingKey }) {
                    baseline = (map.result, (map.run.recordPath as NSString).deletingLastPathComponent, map.run)
                } else {
                    baseline = nil
                }
                guard let (reference, source, referenceRun) = baseline else { continue }
                // Matched by id: a file holds examples in the order they were scored, not in the split's.
                let a = row.result.predictions
                let byID = Dictionary(reference.predictions.map { ($0.id, $0) }, uniquingKeysWith: { x, _ in x })
                let b = a.compactMap { byID[$0.id] }
                guard b.count == a.count, byID.count == a.count, a.map(\.label) == b.map(\.label) else {
                    warnings.append(
                        "\(row.run.recordPath) and \(referenceRun.recordPath) are not on the same examples: "
                            + "compared unpaired (no paired differences)")
                    continue
                }
                guard row.run.record.bayevalVersion == referenceRun.record.bayevalVersion else {
                    warnings.append(
                        "\(row.run.recordPath) (bayeval \(row.run.record.bayevalVersion)) and "
                            + "\(referenceRun.recordPath) (bayeval \(referenceRun.record.bayevalVersion)) come "
                            + "from different versions: compared unpaired (no paired differences)")
                    continue
                }
                let candidate = try predictions(row.result)
                let base = try Predictions(ragged: b.map { $0.probs! }, labels: b.map(\.label))
                paired.append(
                    Paired(
                        row: row, baseline: source,
                        differences: Self.headline.map {
                            bootstrap.difference(
                                of: $0, candidate: candidate, baseline: base, binning: binning, threads: threads)
                        }))
            }
        }
        self.paired = paired

        // Panels: predictions pooled over the seeds of each (task, training, method).
        var panels: [Panel] = []
        var panelOrder: [String] = []
        var byPanel: [String: [Row]] = [:]
        for row in rows {
            let k = [row.run.model, row.run.task, row.run.split, row.run.training].joined(separator: "\u{1F}")
            if byPanel[k] == nil { panelOrder.append(k) }
            byPanel[k, default: []].append(row)
        }
        for k in panelOrder {
            let members = byPanel[k]!
            var methods: [String] = []
            for m in members.map(\.method) where !methods.contains(m) { methods.append(m) }
            let series = try methods.map { method -> Panel.Series in
                let chosen = members.filter { $0.method == method }
                let pooled = chosen.flatMap(\.result.predictions)
                let p = try Predictions(ragged: pooled.map { $0.probs! }, labels: pooled.map(\.label))
                return Panel.Series(
                    method: method, runs: chosen.count, reliability: reliabilityDiagram(p, binning: binning),
                    riskCoverage: RiskCoverage(p), metrics: MetricReport(p, binning: binning))
            }
            panels.append(
                Panel(
                    model: members[0].run.model, task: members[0].run.task, training: members[0].run.training,
                    series: series))
        }
        self.panels = panels

        // σ sweeps.
        var sweeps: [Sweep] = []
        for run in runs where run.isSweep {
            let points = try run.results.compactMap { r -> Sweep.Point? in
                guard let sigma = r.result.method.sigma else { return nil }
                let p = try predictions(r)
                return Sweep.Point(
                    sigma: sigma, metrics: MetricReport(p, binning: binning),
                    intervals: try Bootstrap.headlineIntervals(
                        for: p, binning: binning, resamples: resamples, threads: threads, level: level, seed: seed))
            }
            let searched = runs.first {
                $0.record.command == .tfb && $0.record.tfbSearch != nil && $0.pairingKey == run.pairingKey
            }?.record.tfbSearch?.sigma
            sweeps.append(
                Sweep(
                    run: run, points: points.sorted { $0.sigma < $1.sigma },
                    map: run.record.results.first { $0.method.label == Method.mapLabel }?.metrics,
                    searchedSigma: searched))
        }
        self.sweeps = sweeps
        self.warnings = warnings
    }
}
