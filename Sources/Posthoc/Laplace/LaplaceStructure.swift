import Loaders
import Runtime

/// The Hessian structures a Laplace posterior can take (laplace-torch's `hessian_structure`).
public enum HessianStructure: String, CaseIterable, Sendable {
    case kron, diag, full
}

/// A Laplace posterior N(θ_MAP, (H + δI)⁻¹) over the adapter's θ, for one Hessian structure H fitted
/// from a curvature pass: one type per structure behind this protocol. With a scalar prior precision δ
/// every structure reduces to two things: the eigenvalues of H (so log det(H + δI) = Σ log(λ + δ), and the
/// marginal likelihood and its maximisation follow, see `MarginalLikelihood`), and the variance J·Σ·Jᵀ of
/// the outputs for an example's Jacobian rows.
public protocol LaplaceStructure {
    var structure: HessianStructure { get }
    var parameterCount: Int { get }
    /// The eigenvalues of H, P of them (a Kronecker block's are the products of its factors' eigenvalues).
    var spectrum: [Double] { get }
    /// Eigenvalues below zero that round-off produced, clipped to zero.
    var clippedEigenvalues: Int { get }
    /// J·(H + δI)⁻¹·Jᵀ (K × K) for one example's K Jacobian rows, each P long in layout order.
    func functionalVariance(_ jacobian: [[Float]], prior: Double) -> [[Double]]
}

/// The exact GGN diagonal h = Σ_n Σ_c g_{nc}² (g the θ-gradient of pass c of the loss Hessian's root),
/// as laplace-torch's `DiagLaplace` with `CurvlinopsGGN` (the diagonal of Σ_n J_nᵀ Λ_n J_n); with
/// empirical-Fisher passes, the Fisher's diagonal instead.
public struct DiagonalLaplace: LaplaceStructure {
    public let diagonal: [Double]
    public var structure: HessianStructure { .diag }
    public var parameterCount: Int { diagonal.count }
    public var spectrum: [Double] { diagonal }
    public var clippedEigenvalues: Int { 0 }

    public init(diagonal: [Double]) { self.diagonal = diagonal }

    public func functionalVariance(_ jacobian: [[Float]], prior: Double) -> [[Double]] {
        let inverse = diagonal.map { 1 / ($0 + prior) }
        return jacobian.map { jk in
            jacobian.map { jl in
                var s = 0.0
                for p in 0..<inverse.count { s += Double(jk[p]) * Double(jl[p]) * inverse[p] }
                return s
            }
        }
    }
}

/// The dense GGN H = Σ_n J_nᵀ Λ_n J_n, for small θ (a head, a core subset): eigendecomposed once, so
/// every prior precision costs only a rescaling of its eigenvalues.
public struct FullLaplace: LaplaceStructure {
    public let eigen: (values: [Double], vectors: [Float])
    public let clippedEigenvalues: Int
    public var structure: HessianStructure { .full }
    public var parameterCount: Int { eigen.values.count }
    public var spectrum: [Double] { eigen.values }
    let backend: any ComputeBackend

    /// The most parameters a full structure is fitted for: the fit holds about 28·P² bytes at its peak (the
    /// float Gram matrix, its double copy and LAPACK's workspace), 11 GB at this limit.
    public static let maximumParameters = 20_000

    init(hessian: [Double], dimension: Int, backend: any ComputeBackend) throws {
        let e = try SymmetricEigen(hessian, dimension: dimension, name: "full GGN")
        eigen = (e.values, e.vectors.map(Float.init))
        clippedEigenvalues = e.clipped
        self.backend = backend
    }

    public func functionalVariance(_ jacobian: [[Float]], prior: Double) -> [[Double]] {
        // JU (K × P), then Σ_i (JU)_ki (JU)_li / (λ_i + δ).
        let P = parameterCount, K = jacobian.count
        let j = Tensor(shape: [K, P], values: jacobian.flatMap { $0 }), ju = Tensor(shape: [K, P])
        eigen.vectors.withUnsafeBufferPointer { u in
            backend.gemm(
                m: K, n: P, k: P, alpha: 1, a: j.pointer, lda: P, b: u.baseAddress!, ldb: P, transposeB: false,
                beta: 0, c: ju.pointer, ldc: P)
        }
        let inverse = eigen.values.map { 1 / ($0 + prior) }
        return withExtendedLifetime(j) {
            (0..<K).map { k in
                (0..<K).map { l in
                    var s = 0.0
                    for i in 0..<P { s += Double(ju[k * P + i]) * Double(ju[l * P + i]) * inverse[i] }
                    return s
                }
            }
        }
    }
}
