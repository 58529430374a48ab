/// Per-bin running sums of one calibration pass. Kept as a reusable buffer so the bootstrap can reset it
/// between resamples instead of allocating (B + 1 slots: the B bins and the [1, 1] point bin).
struct BinTotals {
    private(set) var count: [Double]
    private(set) var confidence: [Double]
    private(set) var hits: [Double]

    init(binning: Binning) {
        count = Array(repeating: 0, count: binning.count + 1)
        confidence = count
        hits = count
    }

    mutating func reset() {
        for b in count.indices { count[b] = 0; confidence[b] = 0; hits[b] = 0 }
    }

    /// `hit` is 1 when the event the confidence is about happened (top label correct / y == k), else 0.
    @inline(__always)
    mutating func add(bin b: Int, confidence c: Double, hit: Double) {
        count[b] += 1
        confidence[b] += c
        hits[b] += hit
    }

    /// Σ_b (n_b / n)·|acc_b − conf_b| (L1), written as Σ_b |hits_b − Σconf_b| / n: the same value without
    /// dividing per bin. Empty bins contribute 0.
    func expectedError() -> Double {
        var total = 0.0, n = 0.0
        for b in count.indices {
            total += abs(hits[b] - confidence[b])
            n += count[b]
        }
        return total / n
    }

    /// max over non-empty bins of |acc_b − conf_b| (torchmetrics' norm="max": its empty bins read 0 − 0).
    func maximumError() -> Double {
        var worst = 0.0
        for b in count.indices where count[b] > 0 {
            worst = max(worst, abs(hits[b] / count[b] - confidence[b] / count[b]))
        }
        return worst
    }
}
