import Foundation

/// The Laplace log marginal likelihood as a function of the prior precision, laplace-torch's formula with
/// temperature 1 and a zero prior mean:
///     log p(D | δ) ≈ −L − ½ [Σ_i log(λ_i + δ_i) − Σ_i log δ_i + Σ_i δ_i θ_i²],
/// L the summed cross-entropy at the MAP, λ_i the P curvature eigenvalues and δ_i the prior of the block
/// coordinate i belongs to. It separates over the prior's groups (all of θ for a scalar prior, each block
/// for a layerwise one), and in each group's ρ = log δ its negative is convex (the derivative
/// ½[Σ δ/(λ_i+δ) − P_g + δ‖θ_g‖²] increases with ρ), so each group's maximum is the one root of that
/// derivative, found by bisection to machine precision rather than by a fixed number of Adam steps.
public struct MarginalLikelihood: Sendable {
    /// One group of coordinates sharing a prior value.
    struct Group: Sendable {
        let spectrum: ArraySlice<Double>
        let squaredNorm: Double

        func negativeLogMarginal(_ δ: Double) -> Double {
            var logDet = 0.0
            for λ in spectrum { logDet += Foundation.log(λ + δ) }
            return 0.5 * (logDet - Double(spectrum.count) * Foundation.log(δ) + δ * squaredNorm)
        }

        /// ∂(−log p)/∂ρ at ρ = log δ.
        func negativeGradient(logPrior ρ: Double) -> Double {
            let δ = Foundation.exp(ρ)
            var s = 0.0
            for λ in spectrum { s += δ / (λ + δ) }
            return 0.5 * (s - Double(spectrum.count) + δ * squaredNorm)
        }
    }

    public let spectrum: [Double]
    public let loss: Double
    /// Per block of θ: its eigenbasis coordinates and ‖θ_b‖²; one block for a structure whose eigenbasis
    /// mixes blocks.
    let blocks: [(range: Range<Int>, squaredNorm: Double)]
    /// Whether a layerwise prior can be searched (the eigenbasis respects θ's blocks).
    public let allowsLayerwise: Bool

    /// `blocks`: the structure's `blockRanges` with each block's ‖θ_b‖² (which then sum to `squaredNorm`);
    /// nil for one group over all of θ.
    public init(spectrum: [Double], loss: Double, squaredNorm: Double, blocks: [(Range<Int>, Double)]? = nil) {
        self.spectrum = spectrum
        self.loss = loss
        self.blocks = blocks?.map { ($0.0, $0.1) } ?? [(0..<spectrum.count, squaredNorm)]
        allowsLayerwise = blocks != nil
    }

    func groups(_ structure: PriorPrecision.Structure) -> [Group] {
        switch structure {
        case .scalar:
            return [Group(spectrum: spectrum[...], squaredNorm: blocks.reduce(0) { $0 + $1.squaredNorm })]
        case .layerwise:
            precondition(allowsLayerwise, "a layerwise prior needs a block-diagonal structure")
            return blocks.map { Group(spectrum: spectrum[$0.range], squaredNorm: $0.squaredNorm) }
        }
    }

    public func logMarginalLikelihood(prior: PriorPrecision) -> Double {
        let groups = groups(prior.isScalar ? .scalar : .layerwise)
        return -loss - zip(groups, prior.values).reduce(0) { $0 + $1.0.negativeLogMarginal($1.1) }
    }

    public func logMarginalLikelihood(prior δ: Double) -> Double { logMarginalLikelihood(prior: .scalar(δ)) }

    /// The bound of the search on log δ: a prior at ±40 is at the search's edge, the posterior degenerate.
    public static let logPriorBound = 40.0

    /// Whether δ lies at the edge of the search (within 0.1 of ±`logPriorBound` in log δ).
    public static func isAtSearchEdge(_ δ: Double) -> Bool { abs(Foundation.log(δ)) >= logPriorBound - 0.1 }

    /// The prior maximising the marginal likelihood, each value within [e⁻⁴⁰, e⁴⁰].
    public func maximisingPrior(_ structure: PriorPrecision.Structure = .scalar) -> PriorPrecision {
        PriorPrecision(
            groups(structure).map { g in
                var lo = -Self.logPriorBound, hi = Self.logPriorBound
                if g.negativeGradient(logPrior: lo) >= 0 { return Foundation.exp(lo) }
                if g.negativeGradient(logPrior: hi) <= 0 { return Foundation.exp(hi) }
                for _ in 0..<200 where hi - lo > 1e-13 {
                    let mid = (lo + hi) / 2
                    if g.negativeGradient(logPrior: mid) < 0 { lo = mid } else { hi = mid }
                }
                return Foundation.exp((lo + hi) / 2)
            })
    }

    /// laplace-torch's `optimize_prior_precision(method="marglik")`: ρ from log 1 = 0, Adam (lr 0.1,
    /// β 0.9/0.999, ε 1e-8) for exactly `steps` steps on −log p(D | e^ρ), no early stop. Adam works per
    /// coordinate and the objective separates, so a layerwise ρ is each group's own run.
    public func upstreamPrior(
        _ structure: PriorPrecision.Structure = .scalar, steps: Int = 100, learningRate: Double = 0.1
    ) -> PriorPrecision {
        PriorPrecision(
            groups(structure).map { g in
                var ρ = 0.0, m = 0.0, v = 0.0
                let β1 = 0.9, β2 = 0.999, ε = 1e-8
                for t in 1...max(1, steps) {
                    let grad = g.negativeGradient(logPrior: ρ)
                    m = β1 * m + (1 - β1) * grad
                    v = β2 * v + (1 - β2) * grad * grad
                    let correction1 = 1 - Foundation.pow(β1, Double(t)), correction2 = 1 - Foundation.pow(β2, Double(t))
                    ρ -= learningRate / correction1 * m / (v.squareRoot() / correction2.squareRoot() + ε)
                }
                return Foundation.exp(ρ)
            })
    }
}
