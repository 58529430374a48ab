import Foundation
import Loaders
import Runtime

/// How the linearised (GLM) predictive turns the Gaussian N(f, Σ_f) over an example's logits into class
/// probabilities, laplace-torch's `link_approx`.
public enum GLMLink: String, CaseIterable, Sendable {
    /// softmax(f / √(1 + π/8 · diag Σ_f)).
    case probit
    /// The mean of softmax over `samples` draws f + L·z, L the Cholesky factor of Σ_f, z seeded per example.
    case mc
    /// The Laplace bridge (Dirichlet moments), as laplace-torch's `bridge`.
    case bridge
    /// The normalised bridge, laplace-torch's `bridge_norm`.
    case bridgeNorm = "bridge-norm"

    /// Class probabilities for mean logits `f` (K) and their covariance `variance` (K × K). `seed` keys the
    /// draws of `.mc` (one stream per example, so results do not depend on the batch).
    public func probabilities(
        mean f: [Double], variance: [[Double]], samples: Int = 10_000, seed: UInt64 = 0
    )
        -> [Double]
    {
        let K = f.count
        switch self {
        case .probit:
            return Self.softmax((0..<K).map { f[$0] / (1 + Double.pi / 8 * variance[$0][$0]).squareRoot() })
        case .mc:
            let l = Self.cholesky(variance)
            var rng = SplitMix64(seed: seed)
            var mean = [Double](repeating: 0, count: K), z = [Double](repeating: 0, count: K)
            for _ in 0..<samples {
                StandardNormal.fill(&z, &rng)
                let draw = (0..<K).map { i in f[i] + (0...i).reduce(0.0) { $0 + l[i][$1] * z[$1] } }
                for (i, p) in Self.softmax(draw).enumerated() { mean[i] += p / Double(samples) }
            }
            return mean
        case .bridge, .bridgeNorm:
            // Remove the direction of 1 (softmax is invariant along it): μ −= r·(1ᵀμ)/s, Σ −= r·rᵀ/s.
            let r = variance.map { $0.reduce(0, +) }, s = r.reduce(0, +)
            let total = f.reduce(0, +)
            var mu = (0..<K).map { f[$0] - r[$0] * total / s }
            var d = (0..<K).map { variance[$0][$0] - r[$0] * r[$0] / s }
            if self == .bridgeNorm {
                let m = d.reduce(0, +) / Double(K) / (Double(K) / 2).squareRoot()
                mu = mu.map { $0 / m.squareRoot() }
                d = d.map { $0 / m }
            }
            let sumExpNeg = mu.reduce(0.0) { $0 + Foundation.exp(-$1) }
            let alpha = (0..<K).map { k in
                (1 - 2 / Double(K) + Foundation.exp(mu[k]) * sumExpNeg / Double(K * K)) / d[k]
            }
            // laplace-torch turns NaN (a class without variance) into 1; renormalised here so the row stays a
            // distribution.
            let total2 = alpha.reduce(0, +)
            let p = alpha.map { ($0 / total2).isNaN ? 1 : $0 / total2 }
            let sum = p.reduce(0, +)
            return p.map { $0 / sum }
        }
    }

    static func softmax(_ z: [Double]) -> [Double] { LogitGradients.softmax(z) }

    /// Distinct links from a comma-separated list (`--link probit,mc`); nil when one is unknown, repeated
    /// or the list is empty.
    public static func list(_ text: String) -> [GLMLink]? {
        let names = text.split(separator: ",", omittingEmptySubsequences: false)
        let links = names.compactMap { GLMLink(rawValue: String($0)) }
        guard !links.isEmpty, links.count == names.count, Set(links).count == links.count else { return nil }
        return links
    }

    /// Lower Cholesky factor; a pivot that round-off leaves non-positive is taken as 0 (a degenerate direction).
    static func cholesky(_ a: [[Double]]) -> [[Double]] {
        let n = a.count
        var l = [[Double]](repeating: [Double](repeating: 0, count: n), count: n)
        for i in 0..<n {
            for j in 0...i {
                var s = a[i][j]
                for k in 0..<j { s -= l[i][k] * l[j][k] }
                l[i][j] = i == j ? max(s, 0).squareRoot() : (l[j][j] > 0 ? s / l[j][j] : 0)
            }
        }
        return l
    }
}
