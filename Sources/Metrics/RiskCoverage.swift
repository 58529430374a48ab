/// Selective prediction: answer only the most confident examples. The risk at coverage k/n is the error
/// rate among the k most confident (top-label confidence, ties kept in input order); AURC is the mean of
/// the risk over k = 1…n, the area under the risk–coverage curve (Geifman & El-Yaniv's definition).
public struct RiskCoverage: Sendable, Equatable {
    /// Risk at coverage (k + 1) / n, for k = 0…n − 1.
    public let risks: [Double]
    public let aurc: Double

    public init(_ p: Predictions) {
        let confidence: [Double] = (0..<p.count).map { p.topLabel($0).confidence }
        let order: [Int] = (0..<p.count).sorted { a, b in
            confidence[a] > confidence[b] || (confidence[a] == confidence[b] && a < b)
        }
        var errors = 0
        var risks: [Double] = []
        risks.reserveCapacity(p.count)
        for (k, i) in order.enumerated() {
            if p.topLabel(i).label != p.labels[i] { errors += 1 }
            risks.append(Double(errors) / Double(k + 1))
        }
        self.risks = risks
        aurc = risks.reduce(0, +) / Double(max(1, risks.count))
    }

    /// At most `count` (coverage, risk) points, evenly spaced in coverage, the full-coverage point last.
    public func points(count: Int = 100) -> [(coverage: Double, risk: Double)] {
        let n = risks.count
        guard n > 0 else { return [] }
        let step = max(1, n / max(1, count))
        var ks = Array(stride(from: step - 1, to: n, by: step))
        if ks.last != n - 1 { ks.append(n - 1) }
        return ks.map { (Double($0 + 1) / Double(n), risks[$0]) }
    }
}
