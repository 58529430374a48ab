/// One bar of a reliability diagram (top-label confidence).
public struct ReliabilityBin: Sendable, Equatable, Codable {
    public let lower: Double
    public let upper: Double
    /// Examples whose confidence falls in [lower, upper) (in [1, 1] for the point bin).
    public let count: Int
    /// Mean confidence in the bin; 0 for an empty bin (torchmetrics' nan_to_num), look at `count`.
    public let meanConfidence: Double
    /// Accuracy in the bin; 0 for an empty bin.
    public let accuracy: Double

    enum CodingKeys: String, CodingKey {
        case lower, upper, count, accuracy
        case meanConfidence = "mean_confidence"
    }
}

/// Bars in torchmetrics' layout: the B bins [edges[b], edges[b + 1]), then the point bin [1, 1] holding
/// confidences of exactly 1, always B + 1 entries, empty ones with count 0.
/// ECE = Σ count/n·|accuracy − meanConfidence|.
public func reliabilityDiagram(_ p: Predictions, binning: Binning = .standard) -> [ReliabilityBin] {
    var totals = BinTotals(binning: binning)
    Kernel.topLabelTotals(p, 0..<p.count, binning, &totals)
    return (0...binning.count).map { b in
        let (lower, upper) = binning.bounds(of: b)
        let n = totals.count[b]
        return ReliabilityBin(
            lower: lower, upper: upper, count: Int(n),
            meanConfidence: n > 0 ? totals.confidence[b] / n : 0,
            accuracy: n > 0 ? totals.hits[b] / n : 0)
    }
}
