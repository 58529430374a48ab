import Foundation

/// The Laplace log marginal likelihood as a function of a scalar prior precision δ, laplace-torch's
/// formula with temperature 1 and a zero prior mean:
///     log p(D | δ) ≈ −L − ½ [Σ_i log(λ_i + δ) − P·log δ + δ·‖θ‖²],
/// L the summed cross-entropy at the MAP, λ_i the P curvature eigenvalues. In ρ = log δ its negative is
/// convex (its derivative ½[Σ δ/(λ_i+δ) − P + δ‖θ‖²] increases with ρ), so the maximum is the one root of
/// that derivative, found by bisection to machine precision rather than by a fixed number of Adam steps.
public struct MarginalLikelihood: Sendable {
    public let spectrum: [Double]
    public let loss: Double
    public let squaredNorm: Double

    public init(spectrum: [Double], loss: Double, squaredNorm: Double) {
        self.spectrum = spectrum
        self.loss = loss
        self.squaredNorm = squaredNorm
    }

    public func logMarginalLikelihood(prior δ: Double) -> Double {
        var logDet = 0.0
        for λ in spectrum { logDet += Foundation.log(λ + δ) }
        return -loss - 0.5 * (logDet - Double(spectrum.count) * Foundation.log(δ) + δ * squaredNorm)
    }

    /// ∂(−log p(D | δ))/∂ρ at ρ = log δ.
    func negativeGradient(logPrior ρ: Double) -> Double {
        let δ = Foundation.exp(ρ)
        var s = 0.0
        for λ in spectrum { s += δ / (λ + δ) }
        return 0.5 * (s - Double(spectrum.count) + δ * squaredNorm)
    }

    /// The δ maximising the marginal likelihood, within [e⁻⁴⁰, e⁴⁰].
    public func maximisingPrior() -> Double {
        var lo = -40.0, hi = 40.0
        if negativeGradient(logPrior: lo) >= 0 { return Foundation.exp(lo) }
        if negativeGradient(logPrior: hi) <= 0 { return Foundation.exp(hi) }
        for _ in 0..<200 where hi - lo > 1e-13 {
            let mid = (lo + hi) / 2
            if negativeGradient(logPrior: mid) < 0 { lo = mid } else { hi = mid }
        }
        return Foundation.exp((lo + hi) / 2)
    }

    /// laplace-torch's `optimize_prior_precision(method="marglik")`: ρ from log 1 = 0, Adam (lr 0.1,
    /// β 0.9/0.999, ε 1e-8) for exactly `steps` steps on −log p(D | e^ρ), no early stop.
    public func upstreamPrior(steps: Int = 100, learningRate: Double = 0.1) -> Double {
        var ρ = 0.0, m = 0.0, v = 0.0
        let β1 = 0.9, β2 = 0.999, ε = 1e-8
        for t in 1...max(1, steps) {
            let g = negativeGradient(logPrior: ρ)
            m = β1 * m + (1 - β1) * g
            v = β2 * v + (1 - β2) * g * g
            let correction1 = 1 - Foundation.pow(β1, Double(t)), correction2 = 1 - Foundation.pow(β2, Double(t))
            ρ -= learningRate / correction1 * m / (v.squareRoot() / correction2.squareRoot() + ε)
        }
        return Foundation.exp(ρ)
    }
}
