/// Predictive probabilities of n examples over K classes, with the true labels: the input of every metric.
/// Validated once on construction so no metric has to second-guess its input.
public struct Predictions: Sendable, Equatable {
    public let classCount: Int
    /// Row-major n × K.
    public let probabilities: [Double]
    public let labels: [Int]

    public var count: Int { labels.count }

    public enum Problem: Error, CustomStringConvertible, Equatable {
        case empty
        case shape(expected: Int, got: Int)
        case labelOutOfRange(row: Int, label: Int, classes: Int)
        case notFinite(row: Int)
        case negative(row: Int)
        case notNormalised(row: Int, sum: Double)

        public var description: String {
            switch self {
            case .empty: "no examples"
            case .shape(let e, let g): "expected \(e) probabilities (n × K), got \(g)"
            case .labelOutOfRange(let r, let l, let k): "example \(r): label \(l) is outside 0..<\(k)"
            case .notFinite(let r): "example \(r): a probability is NaN or infinite"
            case .negative(let r): "example \(r): a probability is negative"
            case .notNormalised(let r, let s): "example \(r): probabilities sum to \(s), not 1"
            }
        }
    }

    /// Examples with different numbers of choices (ARC has 3 to 5), padded with zero-probability classes
    /// up to the widest: accuracy, ECE, NLL and Brier are unchanged by a class nobody predicts or is
    /// labelled with.
    public init(ragged: [[Double]], labels: [Int]) throws {
        let k = ragged.map(\.count).max() ?? 0
        var flat: [Double] = []
        flat.reserveCapacity(ragged.count * k)
        for probs in ragged {
            flat += probs
            flat += [Double](repeating: 0, count: k - probs.count)
        }
        try self.init(probabilities: flat, labels: labels, classCount: k)
    }

    /// `tolerance` bounds |Σ_k p_k − 1| per row (Float32 softmax outputs sum to 1 within ~1e-6).
    public init(probabilities: [Double], labels: [Int], classCount: Int, tolerance: Double = 1e-4) throws {
        guard !labels.isEmpty else { throw Problem.empty }
        guard classCount > 0, probabilities.count == labels.count * classCount else {
            throw Problem.shape(expected: labels.count * classCount, got: probabilities.count)
        }
        for (i, y) in labels.enumerated() {
            guard (0..<classCount).contains(y) else {
                throw Problem.labelOutOfRange(row: i, label: y, classes: classCount)
            }
            var sum = 0.0
            for k in 0..<classCount {
                let p = probabilities[i * classCount + k]
                guard p.isFinite else { throw Problem.notFinite(row: i) }
                guard p >= 0 else { throw Problem.negative(row: i) }
                sum += p
            }
            guard abs(sum - 1) <= tolerance else { throw Problem.notNormalised(row: i, sum: sum) }
        }
        self.probabilities = probabilities
        self.labels = labels
        self.classCount = classCount
    }

    public func row(_ i: Int) -> ArraySlice<Double> {
        probabilities[(i * classCount)..<((i + 1) * classCount)]
    }
}
