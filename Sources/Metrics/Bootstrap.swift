import Dispatch

/// Percentile bootstrap over examples: resample n rows with replacement, `resamples` times, evaluate the
/// metric on each resample and report the (1 − level)/2 and (1 + level)/2 quantiles of the replicates.
///
/// Determinism: resample r draws its n rows from `SplitMix64.stream(r, of: seed)` and writes its replicate
/// to slot r, so the result is the same for a seed whatever `threads` is. Quantiles interpolate linearly
/// between order statistics, as numpy.quantile's default ("linear") does: position (B − 1)·q.
public struct Bootstrap: Sendable, Equatable {
    public let resamples: Int
    public let level: Double
    public let seed: UInt64

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooFewResamples(Int)
        case levelOutOfRange(Double)
        public var description: String {
            switch self {
            case .tooFewResamples(let b): "the bootstrap needs at least 1 resample, got \(b)"
            case .levelOutOfRange(let l): "the interval level must be strictly between 0 and 1, got \(l)"
            }
        }
    }

    public init(resamples: Int = 1000, level: Double = 0.95, seed: UInt64 = 0) throws {
        guard resamples >= 1 else { throw Problem.tooFewResamples(resamples) }
        guard level > 0, level < 1 else { throw Problem.levelOutOfRange(level) }
        self.resamples = resamples
        self.level = level
        self.seed = seed
    }

    /// The metric on each resample, in resample order.
    public func replicates(
        of metric: Metric, for p: Predictions, binning: Binning = .standard, threads: Int = 2
    ) -> [Double] {
        resampled(rows: p.count, binning: binning, threads: threads) { drawn, totals in
            Kernel.evaluate(metric, p, drawn, binning, &totals)
        }
    }

    /// `statistic` of every resample r (its n rows drawn from `SplitMix64.stream(r, of: seed)`), in
    /// resample order, over `threads` workers; the same numbers whatever `threads` is.
    func resampled(
        rows n: Int, binning: Binning, threads: Int,
        _ statistic: (UnsafeBufferPointer<Int>, inout BinTotals) -> Double
    ) -> [Double] {
        let total = resamples
        let workers = max(1, min(threads, total))
        var out = [Double](repeating: 0, count: total)
        out.withUnsafeMutableBufferPointer { buffer in
            // Workers write disjoint slots r; the buffer outlives concurrentPerform, which joins them.
            nonisolated(unsafe) let slots = buffer
            withoutActuallyEscaping(statistic) { statistic in
                nonisolated(unsafe) let statistic = statistic
                DispatchQueue.concurrentPerform(iterations: workers) { w in
                    // Scratch allocated once per worker; the resample loop below allocates nothing.
                    var rows = [Int](repeating: 0, count: n)
                    var totals = BinTotals(binning: binning)
                    rows.withUnsafeMutableBufferPointer { rows in
                        var r = w
                        while r < total {
                            var rng = SplitMix64.stream(r, of: seed)
                            for j in 0..<n { rows[j] = Int(rng.next(below: UInt64(n))) }
                            slots[r] = statistic(UnsafeBufferPointer(rows), &totals)
                            r += workers
                        }
                    }
                }
            }
        }
        return out
    }

    public func interval(
        of metric: Metric, for p: Predictions, binning: Binning = .standard, threads: Int = 2
    ) -> BootstrapInterval {
        var values = replicates(of: metric, for: p, binning: binning, threads: threads)
        values.sort()
        return BootstrapInterval(
            metric: metric, estimate: metric.value(of: p, binning: binning),
            lower: Self.quantile(values, (1 - level) / 2), upper: Self.quantile(values, (1 + level) / 2),
            level: level, resamples: resamples, seed: seed)
    }

    /// Linear interpolation between order statistics of sorted `v` at position (count − 1)·q.
    static func quantile(_ v: [Double], _ q: Double) -> Double {
        let h = Double(v.count - 1) * q
        let lo = Int(h.rounded(.down))
        let hi = min(lo + 1, v.count - 1)
        return v[lo] + (h - Double(lo)) * (v[hi] - v[lo])
    }
}

extension Bootstrap {
    /// Intervals at `level` (95 % by default) of the four headline metrics (ACC, ECE, NLL, Brier),
    /// `resamples` replicates from `seed`; none when `resamples` is 0.
    public static func headlineIntervals(
        for p: Predictions, binning: Binning, resamples: Int, threads: Int, level: Double = 0.95, seed: UInt64 = 0
    ) throws -> [BootstrapInterval] {
        guard resamples > 0 else { return [] }
        let b = try Bootstrap(resamples: resamples, level: level, seed: seed)
        return [Metric.accuracy, .ece, .nll, .brier].map {
            b.interval(of: $0, for: p, binning: binning, threads: threads)
        }
    }
}

public struct BootstrapInterval: Sendable, Equatable, Codable {
    public let metric: Metric
    /// The metric on all examples (not the mean of the replicates).
    public let estimate: Double
    public let lower: Double
    public let upper: Double
    public let level: Double
    public let resamples: Int
    public let seed: UInt64
}

extension Bootstrap {
    /// The paired bootstrap of a difference, candidate − baseline, on the same examples: every resample
    /// draws the same rows from both, so what the two share (hard examples) cancels and the interval is
    /// that of the change itself. Rows of `candidate` and `baseline` must be the same examples in the
    /// same order.
    public func difference(
        of metric: Metric, candidate: Predictions, baseline: Predictions, binning: Binning = .standard,
        threads: Int = 2
    ) -> BootstrapInterval {
        precondition(candidate.count == baseline.count, "paired predictions must have the same rows")
        var values = resampled(rows: candidate.count, binning: binning, threads: threads) { drawn, totals in
            Kernel.evaluate(metric, candidate, drawn, binning, &totals)
                - Kernel.evaluate(metric, baseline, drawn, binning, &totals)
        }
        values.sort()
        return BootstrapInterval(
            metric: metric,
            estimate: metric.value(of: candidate, binning: binning) - metric.value(of: baseline, binning: binning),
            lower: Self.quantile(values, (1 - level) / 2), upper: Self.quantile(values, (1 + level) / 2),
            level: level, resamples: resamples, seed: seed)
    }
}
