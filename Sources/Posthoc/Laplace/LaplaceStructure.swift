import Loaders
import Runtime

/// The Hessian structures a Laplace posterior can take (laplace-torch's `hessian_structure`).
public enum HessianStructure: String, CaseIterable, Sendable {
    case kron, diag, full

    /// Whether its eigenbasis is block-diagonal over θ's blocks (its `blockRanges` are not nil), so that
    /// a layerwise prior stays diagonal in it: known before any fit, so settings can be refused early.
    public var hasBlockDiagonalBasis: Bool { self != .full }
}

/// A prior precision δ: one for all of θ, or one per block of θ (laplace-torch's `prior_structure`
/// `scalar` and `layerwise`, the latter one value per parameter tensor).
public struct PriorPrecision: Sendable, Equatable {
    public enum Structure: String, CaseIterable, Sendable { case scalar, layerwise }
    /// One value, or one per block of the layout.
    public let values: [Double]
    public init(_ values: [Double]) { self.values = values }
    public static func scalar(_ δ: Double) -> PriorPrecision { PriorPrecision([δ]) }
    public var isScalar: Bool { values.count == 1 }
}

/// A Laplace posterior N(θ_MAP, (H + δ)⁻¹) over the adapter's θ, for one Hessian structure H fitted from
/// a curvature pass: one type per structure behind this protocol. Every structure is an orthonormal
/// eigenbasis U of H with its eigenvalues λ, U block-diagonal over θ's blocks for kron and diag (so a
/// per-block prior stays diagonal in it), dense for full. The rest follows once for all of them (the
/// extension below): log det(H + δ) = Σ log(λ_i + δ_i) and the marginal likelihood (`MarginalLikelihood`),
/// the logits' variance J·Σ·Jᵀ = Σ_i (JU)_{ki} (JU)_{li} / (λ_i + δ_i), and weight samples
/// θ = θ_MAP + U·(z / √(λ + δ)).
public protocol LaplaceStructure {
    var structure: HessianStructure { get }
    var parameterCount: Int { get }
    /// The eigenvalues of H, P of them, in eigenbasis order (a Kronecker block's are the products of its
    /// factors' eigenvalues, output-major).
    var spectrum: [Double] { get }
    /// The eigenbasis coordinates of each block of θ (layout order) when U is block-diagonal; nil when it
    /// mixes blocks (full), which a per-block prior then cannot be combined with.
    var blockRanges: [Range<Int>]? { get }
    /// Eigenvalues below zero that round-off produced, clipped to zero.
    var clippedEigenvalues: Int { get }
    /// Uᵀ·x for each of the `rows` vectors of θ in `x` (rows × P, row-major).
    func toEigenbasis(_ x: [Float], rows: Int) -> [Float]
    /// U·y for one vector of eigenbasis coordinates.
    func fromEigenbasis(_ y: [Float]) -> [Float]
}

extension LaplaceStructure {
    /// The prior's coordinates: one range per prior value, with that value.
    func priorRanges(_ prior: PriorPrecision) -> [(range: Range<Int>, δ: Double)] {
        if prior.isScalar { return [(0..<parameterCount, prior.values[0])] }
        guard let blocks = blockRanges, blocks.count == prior.values.count else {
            preconditionFailure("a per-block prior needs a block-diagonal structure with one value per block")
        }
        return zip(blocks, prior.values).map { ($0, $1) }
    }

    /// J·(H + δ)⁻¹·Jᵀ (K × K) for one example's K Jacobian rows (each P long, layout order), for each of
    /// `priors`: one rotation into the eigenbasis serves them all.
    public func functionalVariance(_ jacobian: [[Float]], priors: [PriorPrecision]) -> [[[Double]]] {
        let K = jacobian.count, P = parameterCount
        let v = toEigenbasis(jacobian.flatMap { $0 }, rows: K)
        var out = [[[Double]]](
            repeating: [[Double]](repeating: [Double](repeating: 0, count: K), count: K), count: priors.count)
        let spectrum = spectrum
        let pairs = (0..<K).flatMap { k in (k..<K).map { (k, $0) } }
        for (p, prior) in priors.enumerated() {
            var sums = [Double](repeating: 0, count: pairs.count)
            for (range, δ) in priorRanges(prior) {
                for i in range {
                    let inverse = 1 / (spectrum[i] + δ)
                    for (j, (k, l)) in pairs.enumerated() {
                        sums[j] += Double(v[k * P + i]) * Double(v[l * P + i]) * inverse
                    }
                }
            }
            for (j, (k, l)) in pairs.enumerated() {
                out[p][k][l] = sums[j]
                out[p][l][k] = sums[j]
            }
        }
        return out
    }

    public func functionalVariance(_ jacobian: [[Float]], prior: Double) -> [[Double]] {
        functionalVariance(jacobian, priors: [.scalar(prior)])[0]
    }

    /// θ_MAP + U·(z / √(λ + δ)) for standard normal z: one weight sample of the posterior.
    public func sample(mean: [Float], prior: PriorPrecision, normals z: [Float]) -> [Float] {
        var scaled = z
        let spectrum = spectrum
        for (range, δ) in priorRanges(prior) {
            for i in range { scaled[i] = Float(Double(z[i]) / (spectrum[i] + δ).squareRoot()) }
        }
        let offset = fromEigenbasis(scaled)
        return zip(mean, offset).map { $0 + $1 }
    }
}

/// The exact GGN diagonal h = Σ_n Σ_c g_{nc}² (g the θ-gradient of pass c of the loss Hessian's root),
/// as laplace-torch's `DiagLaplace` with `CurvlinopsGGN` (the diagonal of Σ_n J_nᵀ Λ_n J_n); with
/// empirical-Fisher passes, the Fisher's diagonal instead. Its eigenbasis is θ's own.
public struct DiagonalLaplace: LaplaceStructure {
    public let diagonal: [Double]
    public let blockRanges: [Range<Int>]?
    public var structure: HessianStructure { .diag }
    public var parameterCount: Int { diagonal.count }
    public var spectrum: [Double] { diagonal }
    public var clippedEigenvalues: Int { 0 }

    public init(diagonal: [Double], layout: LaplaceLayout) {
        self.diagonal = diagonal
        blockRanges = layout.blocks.map(\.range)
    }

    public func toEigenbasis(_ x: [Float], rows: Int) -> [Float] { x }
    public func fromEigenbasis(_ y: [Float]) -> [Float] { y }
}
