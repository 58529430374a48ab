import Foundation

// Every metric is written once, over a collection of row indices: `0 ..< n` for the data as given, a
// buffer of drawn indices for a bootstrap resample (rows may repeat). Generic so both are specialised
// and neither path allocates.

/// −log p(y) uses max(p(y), this). Why a floor at all: p(y) = 0 happens for real (float32 softmax
/// underflows once a logit gap exceeds ~104) and would make the NLL, its bootstrap and `run.json` (JSON has
/// no infinity) useless. Why max() and 1e-12: every p ≥ 1e-12 gives plain numpy −log p bit for bit, and
/// p = 0 gives −log 1e-12 ≈ 27.63, the same as TFB's `log(p + 1e-12)` (ANCHORS §1.2).
public let nllProbabilityFloor = 1e-12

extension Predictions {
    /// Top label: the largest probability, ties to the lowest index (torch.argmax / Tensor.max(dim)).
    @inline(__always)
    func topLabel(_ i: Int) -> (label: Int, confidence: Double) {
        let base = i * classCount
        var best = 0, conf = probabilities[base]
        for k in 1..<classCount where probabilities[base + k] > conf {
            best = k
            conf = probabilities[base + k]
        }
        return (best, conf)
    }

    @inline(__always)
    func probability(_ i: Int, _ k: Int) -> Double { probabilities[i * classCount + k] }
}

enum Kernel {
    static func accuracy<R: Collection<Int>>(_ p: Predictions, _ rows: R) -> Double {
        var hits = 0
        for i in rows where p.topLabel(i).label == p.labels[i] { hits += 1 }
        return Double(hits) / Double(rows.count)
    }

    static func meanConfidence<R: Collection<Int>>(_ p: Predictions, _ rows: R) -> Double {
        var sum = 0.0
        for i in rows { sum += p.topLabel(i).confidence }
        return sum / Double(rows.count)
    }

    static func nll<R: Collection<Int>>(_ p: Predictions, _ rows: R) -> Double {
        var sum = 0.0
        for i in rows { sum -= log(max(p.probability(i, p.labels[i]), nllProbabilityFloor)) }
        return sum / Double(rows.count)
    }

    static func brier<R: Collection<Int>>(_ p: Predictions, _ rows: R) -> Double {
        var sum = 0.0
        for i in rows {
            let y = p.labels[i]
            for k in 0..<p.classCount {
                let d = p.probability(i, k) - (k == y ? 1 : 0)
                sum += d * d
            }
        }
        return sum / Double(rows.count)
    }

    /// Fills `totals` with the top-label calibration sums.
    static func topLabelTotals<R: Collection<Int>>(
        _ p: Predictions, _ rows: R, _ binning: Binning, _ totals: inout BinTotals
    ) {
        totals.reset()
        for i in rows {
            let (label, conf) = p.topLabel(i)
            totals.add(bin: binning.index(of: conf), confidence: conf, hit: label == p.labels[i] ? 1 : 0)
        }
    }

    /// Mean over classes k of the L1 ECE of the one-vs-rest pairs (p_ik, 1[y_i = k]).
    static func classwiseECE<R: Collection<Int>>(
        _ p: Predictions, _ rows: R, _ binning: Binning, _ totals: inout BinTotals
    ) -> Double {
        var sum = 0.0
        for k in 0..<p.classCount {
            totals.reset()
            for i in rows {
                let c = p.probability(i, k)
                totals.add(bin: binning.index(of: c), confidence: c, hit: p.labels[i] == k ? 1 : 0)
            }
            sum += totals.expectedError()
        }
        return sum / Double(p.classCount)
    }

    static func evaluate<R: Collection<Int>>(
        _ metric: Metric, _ p: Predictions, _ rows: R, _ binning: Binning, _ totals: inout BinTotals
    ) -> Double {
        switch metric {
        case .accuracy: return accuracy(p, rows)
        case .nll: return nll(p, rows)
        case .brier: return brier(p, rows)
        case .meanConfidence: return meanConfidence(p, rows)
        case .classwiseECE: return classwiseECE(p, rows, binning, &totals)
        case .ece:
            topLabelTotals(p, rows, binning, &totals)
            return totals.expectedError()
        case .mce:
            topLabelTotals(p, rows, binning, &totals)
            return totals.maximumError()
        }
    }
}
