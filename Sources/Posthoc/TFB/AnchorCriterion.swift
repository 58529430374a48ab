import Foundation

/// How much a posterior changes the model's own predictions on the anchor set. Pseudo-labels are the
/// deterministic model's argmax; true labels are never used.
public struct AnchorCriterion: Sendable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        /// Relative change of the anchor NLL against the pseudo-labels.
        case nll
        /// Share of anchor predictions whose argmax changes.
        case flip
    }

    public let kind: Kind
    /// bayesian-peft divides the NLL ratio by the number of anchors (so its 0.003 means a 150 % change on
    /// 500 anchors); kept only behind `--upstream`.
    public let dividesByAnchorCount: Bool
    public let pseudoLabels: [Int]
    public let referenceNLL: Double

    public init(kind: Kind, reference: [[Double]], upstream: Bool) {
        self.kind = kind
        dividesByAnchorCount = upstream && kind == .nll
        pseudoLabels = reference.map { Self.argmax($0) }
        referenceNLL = Self.nll(reference, pseudoLabels)
    }

    /// The criterion for the posterior's averaged anchor probabilities (nil rows count as changed / as the
    /// NLL floor, so a broken sample can never look harmless).
    public func value(_ probabilities: [[Double]?]) -> Double {
        switch kind {
        case .flip:
            let changed = zip(probabilities, pseudoLabels).filter { p, y in p.map { Self.argmax($0) != y } ?? true }
                .count
            return Double(changed) / Double(max(1, pseudoLabels.count))
        case .nll:
            let current = Self.nll(probabilities.map { $0 ?? [] }, pseudoLabels)
            let ratio = abs(current - referenceNLL) / max(referenceNLL, 1e-12)
            return dividesByAnchorCount ? ratio / Double(pseudoLabels.count) : ratio
        }
    }

    static func argmax(_ p: [Double]) -> Int { p.indices.max { p[$0] < p[$1] || (p[$0] == p[$1] && $0 > $1) } ?? 0 }

    static func nll(_ p: [[Double]], _ y: [Int]) -> Double {
        let total = zip(p, y).reduce(0.0) { acc, e in
            acc - Foundation.log(max(e.0.indices.contains(e.1) ? e.0[e.1] : 0, 1e-12))
        }
        return total / Double(max(1, y.count))
    }
}
