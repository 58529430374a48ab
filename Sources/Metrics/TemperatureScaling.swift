import Foundation

/// Temperature scaling (Guo et al., 2017), the non-Bayesian calibration baseline: one T > 0 for all
/// examples, p_T = softmax(log p / T). Dividing the log-probabilities by T is the same as dividing the
/// logits (the softmax's normaliser cancels), so it applies to a run's saved probabilities exactly.
///
/// The fit is the exact minimiser of the mean NLL over β = 1/T: f(β) = mean_i [logsumexp(β zᵢ) − β z_{i,yᵢ}]
/// is convex in β (f'' is a mean of variances), so f' has one root, found by bisection on log β — no
/// learning rate, no iteration budget to tune.
public enum TemperatureScaling {
    public enum Problem: Error, Equatable, CustomStringConvertible {
        case empty
        case shape(row: Int)
        /// Every example's label already has its largest probability: the NLL keeps falling as T → 0, so
        /// the "optimum" is wherever exp underflows, and applying it would make every test error certain.
        case separable(examples: Int)
        public var description: String {
            switch self {
            case .empty: "temperature scaling needs at least one example"
            case .shape(let row): "row \(row): the label is not one of its classes, or a probability is not finite"
            case .separable(let n):
                "all \(n) fit examples are classified correctly, so the NLL falls without end as T → 0 and no "
                    + "temperature can be fitted; fit on more examples (some the model gets wrong)"
            }
        }
    }

    /// The fitted temperature and what it did on the fit set.
    public struct Fit: Sendable, Equatable, Codable {
        public let temperature: Double
        public let nllBefore: Double
        public let nllAfter: Double
        public let examples: Int
        /// True when the optimum lies beyond the search range [1e-4, 1e4] of β: T is the range's end
        /// (1e-4: the few errors have margins too small to stop the sharpening; 1e4: the predictions are
        /// worse than uniform).
        public let atBound: Bool
    }

    static let betaRange = (lower: 1e-4, upper: 1e4)

    /// Fits T on `probabilities` (each row one example's predictive over its own classes) and `labels`.
    public static func fit(probabilities: [[Double]], labels: [Int]) throws -> Fit {
        guard !labels.isEmpty else { throw Problem.empty }
        guard probabilities.count == labels.count else {
            throw Problem.shape(row: min(probabilities.count, labels.count))
        }
        let z = try probabilities.enumerated().map { i, row -> [Double] in
            guard labels[i] >= 0, labels[i] < row.count, row.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
                throw Problem.shape(row: i)
            }
            return row.map { Foundation.log(max($0, nllProbabilityFloor)) }
        }
        // Then f' < 0 for every β, unless every row is flat (f' ≡ 0: any T leaves them as they are).
        if zip(z, labels).allSatisfy({ row, y in row[y] == row.max()! }), z.contains(where: { $0.min()! < $0.max()! }) {
            throw Problem.separable(examples: labels.count)
        }
        // f'(β): the mean over examples of E[z] − z_y under softmax(β z), accumulated relative to the row's
        // top value so that an example the model gets right with certainty contributes exactly its small
        // negative share instead of cancelling to 0 (that would hide separable data from the bound check).
        func derivative(_ beta: Double) -> Double {
            var first = 0.0
            for (row, y) in zip(z, labels) {
                let top = row.max()!
                var norm = 0.0, mean = 0.0
                for v in row {
                    let w = Foundation.exp(beta * (v - top))
                    norm += w; mean += w * (v - top)
                }
                first += mean / norm - (row[y] - top)
            }
            return first / Double(labels.count)
        }
        var lo = Foundation.log(betaRange.lower), hi = Foundation.log(betaRange.upper)
        var beta: Double
        var atBound = false
        if derivative(betaRange.upper) < 0 {
            beta = betaRange.upper; atBound = true
        } else if derivative(betaRange.lower) > 0 {
            beta = betaRange.lower; atBound = true
        } else {
            // f' is increasing in β: bisection keeps f'(e^lo) ≤ 0 ≤ f'(e^hi); 80 halvings of log β's
            // range of 18.4 leave a bracket far below a Double's resolution.
            for _ in 0..<80 {
                let mid = (lo + hi) / 2
                if derivative(Foundation.exp(mid)) < 0 { lo = mid } else { hi = mid }
            }
            beta = Foundation.exp((lo + hi) / 2)
        }
        // The metric's own NLL (same floor), on the rows as given and as scaled.
        let before = negativeLogLikelihood(try Predictions(ragged: probabilities, labels: labels))
        let after = negativeLogLikelihood(
            try Predictions(ragged: probabilities.map { apply(temperature: 1 / beta, to: $0) }, labels: labels))
        return Fit(temperature: 1 / beta, nllBefore: before, nllAfter: after, examples: labels.count, atBound: atBound)
    }

    /// softmax(log p / T) of one example's probabilities.
    public static func apply(temperature: Double, to probabilities: [Double]) -> [Double] {
        let z = probabilities.map { Foundation.log(max($0, nllProbabilityFloor)) / temperature }
        let top = z.max() ?? 0
        let w = z.map { Foundation.exp($0 - top) }
        let total = w.reduce(0, +)
        return w.map { $0 / total }
    }
}
