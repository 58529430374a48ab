/// Equal-width bins on [0, 1], laid out exactly as torchmetrics 1.9 `_ce_compute` lays them out.
///
/// torchmetrics builds `edges = torch.linspace(0, 1, B + 1)` and assigns a confidence `c` to
/// `torch.bucketize(c, edges, right=True) - 1`, i.e. the number of edges ≤ c, minus one. That gives
/// - bins `b = 0 ..< B` that are half-open **[edges[b], edges[b + 1])** (0 falls in bin 0),
/// - and a confidence of exactly 1 in an extra, degenerate bin `B` = [1, 1] of its own
///   (torchmetrics allocates B + 1 accumulators for this reason).
/// The two layouts differ in value: with 0.95 (correct) and 1.0 (wrong) the ECE is 0.525 here and in
/// torchmetrics, 0.475 if 1.0 were merged into the last bin (see fixtures/metrics/SOURCES.md).
///
/// Precision (our choice): everything is Double. The edges reproduce `torch.linspace(..., dtype=float64)`
/// bit for bit (its CPU kernel computes `start + step·i` below the halfway index and the fused
/// `end − step·(steps − 1 − i)` above it, which is not always `Double(i) / Double(B)`). torchmetrics by
/// default casts confidences to float32 and builds float32 edges, so a confidence within float32
/// rounding (~3e-8) of an edge can land one bin lower there: with 15 bins, 0.2 and 0.4 do (float32 edge
/// 0.2000000179 > Float(0.2)). Tests use the float64 run of torchmetrics' own algorithm everywhere and
/// the float32 default wherever the two assign every example to the same bin.
public struct Binning: Sendable, Equatable {
    /// Number of equal-width bins B (the point bin [1, 1] is extra).
    public let count: Int
    /// B + 1 edges, edges[0] = 0, edges[B] = 1.
    public let edges: [Double]

    public enum Problem: Error, Equatable, CustomStringConvertible {
        case tooFewBins(Int)
        public var description: String {
            switch self {
            case .tooFewBins(let b): "the number of bins must be at least 1, got \(b)"
            }
        }
    }

    /// The default of torchmetrics and of the papers bayeval reproduces (bayesian-peft `--num-bins`).
    public static let standard = Binning(validated: 15)

    public init(count: Int = 15) throws {
        guard count >= 1 else { throw Problem.tooFewBins(count) }
        self.init(validated: count)
    }

    private init(validated count: Int) {
        self.count = count
        let steps = count + 1
        let step = 1.0 / Double(count)
        let halfway = steps / 2
        // Same arithmetic as torch's linspace kernel, so edge-exact confidences bin identically.
        edges = (0..<steps).map { i in
            i < halfway ? step * Double(i) : 1.0.addingProduct(-step, Double(steps - 1 - i))
        }
    }

    /// Bin of a confidence in [0, 1]: the number of edges ≤ c, minus one (0 ... count; count is [1, 1]).
    @inline(__always)
    func index(of c: Double) -> Int {
        // c·B is within an ulp or so of the answer; the comparisons against the real edges decide.
        var b = min(max(Int(c * Double(count)), 0), count)
        while b > 0 && c < edges[b] { b -= 1 }
        while b < count && c >= edges[b + 1] { b += 1 }
        return b
    }

    /// Lower and upper edge of bin `b` (the point bin is [1, 1]).
    public func bounds(of b: Int) -> (lower: Double, upper: Double) {
        b < count ? (edges[b], edges[b + 1]) : (1, 1)
    }
}
