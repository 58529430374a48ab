import CBLAS
import CLAPACKE
import Foundation
import Loaders
import Runtime

/// A Kronecker factor F = Σ α·x xᵀ (d × d, positive semi-definite) too wide to hold, kept as its streamed
/// sketch Y = F·Ω against a fixed d × k test matrix Ω with orthonormal columns, and its trace: d·k + 1
/// numbers instead of d². At the end of the fit the single-pass Nyström approximation F ≈ Y(ΩᵀY)⁺Yᵀ gives
/// its top-r eigenpairs (Tropp, Yurtsever, Udell & Cevher 2017, "Fixed-rank approximation of a positive-
/// semidefinite matrix from streaming data", Alg. 3, with the shift that keeps it stable in floating point);
/// what the r eigenvalues leave of the trace is spread evenly over the complement of their eigenvectors,
/// so the factor stays exactly eigendecomposed (`FactorEigen`'s reflector basis) and every structure-level
/// formula — the marginal likelihood's log-determinant included — holds unchanged. When F has rank ≤ r, as a
/// factor from fewer tokens than r has, the result is exact and the remainder zero; above r, the eigenvalues
/// past the r-th are replaced by their mean.
final class NystromSketch {
    let dimension: Int
    /// r, the eigenpairs kept; k = min(d, r + `oversampling`) columns are sketched.
    let rank: Int
    let width: Int
    /// Ω, d × k row-major, shared by every factor of this dimension: two equal factors (q_proj's and
    /// v_proj's lora_A read the same input) then have equal sketches, decomposed once.
    let test: [Float]
    private(set) var sketch: [Float]
    private(set) var trace = 0.0
    /// X·Ω for the rows in hand, grown when a batch has more rows than any before.
    private var scratch: [Float] = []

    static let oversampling = 16

    init(dimension: Int, rank: Int, test: [Float]) {
        precondition(rank < dimension, "a sketch keeps fewer eigenpairs than its dimension")
        self.dimension = dimension
        self.rank = rank
        width = test.count / dimension
        self.test = test
        sketch = [Float](repeating: 0, count: dimension * width)
    }

    /// Ω for dimension d and k columns: seeded Gaussian columns orthonormalised by QR (the same for every
    /// run, so fits are reproducible).
    static func testMatrix(dimension d: Int, rank: Int) -> [Float] {
        let k = min(d, rank + oversampling)
        var rng = SplitMix64(seed: 0x6E79_7374_726F_6D00 ^ UInt64(d))
        var omega = (0..<(d * k)).map { _ in rng.nextGaussian() }
        var tau = [Double](repeating: 0, count: k)
        var info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, Int32(d), Int32(k), &omega, Int32(k), &tau)
        precondition(info == 0, "LAPACK dgeqrf failed (info \(info))")
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, Int32(d), Int32(k), Int32(k), &omega, Int32(k), tau)
        precondition(info == 0, "LAPACK dorgqr failed (info \(info))")
        return omega.map(Float.init)
    }

    /// F += α·Σ_t x_t x_tᵀ over `rows` rows of x (row stride `stride`): Y += α·Xᵀ(X·Ω).
    func add(_ x: UnsafePointer<Float>, rows: Int, stride: Int, alpha: Float, backend: any ComputeBackend) {
        let d = dimension, k = width
        if scratch.count < rows * k { scratch = [Float](repeating: 0, count: rows * k) }
        scratch.withUnsafeMutableBufferPointer { z in
            test.withUnsafeBufferPointer { omega in
                backend.gemm(
                    m: rows, n: k, k: d, alpha: 1, a: x, lda: stride, b: omega.baseAddress!, ldb: k, transposeB: false,
                    beta: 0, c: z.baseAddress!, ldc: k)
            }
            sketch.withUnsafeMutableBufferPointer { y in
                backend.gemmTransposedA(
                    m: d, n: k, k: rows, alpha: alpha, a: x, lda: stride, b: z.baseAddress!, ldb: k, beta: 1,
                    c: y.baseAddress!, ldc: k)
            }
        }
        var squares = 0.0
        for t in 0..<rows {
            let row = x + t * stride
            for i in 0..<d { squares += Double(row[i]) * Double(row[i]) }
        }
        trace += Double(alpha) * squares
    }

    /// The top-r eigenpairs and the even remainder, as a factor eigendecomposition; `name` names the factor
    /// in errors. `raisedShift` is nil when the float-precision shift sufficed; otherwise the shift that did,
    /// relative to the largest eigenvalue (eigenvalues below it are not resolved), for the fit to warn of.
    func eigen(name: String) throws -> (eigen: FactorEigen, raisedShift: Double?) {
        let d = dimension, k = width, r = rank
        let y = sketch.map(Double.init), omega = test.map(Double.init)
        guard y.allSatisfy(\.isFinite), trace.isFinite else {
            throw UsageError(file: name, item: "curvature", "the curvature holds NaN or infinite values")
        }
        let norm = y.reduce(0) { $0 + $1 * $1 }.squareRoot()
        // The shift: Y was summed in float, so ΩᵀY is positive definite only to float precision.
        var shift = norm > 0 ? Double(d).squareRoot() * Double(Float.ulpOfOne) * norm : 1
        for attempt in 0..<8 {
            var shifted = zip(y, omega).map { $0 + shift * $1 }
            var core = [Double](repeating: 0, count: k * k)
            cblas_dgemm(
                CblasRowMajor, CblasTrans, CblasNoTrans, Int32(k), Int32(k), Int32(d), 1, omega, Int32(k), shifted,
                Int32(k), 0, &core, Int32(k))
            for i in 0..<k {
                for j in 0..<i {
                    let m = (core[i * k + j] + core[j * k + i]) / 2
                    core[i * k + j] = m
                    core[j * k + i] = m
                }
            }
            // ΩᵀY_ν = CᵀC; E = Y_ν·C⁻¹ has E·Eᵀ = Y_ν(ΩᵀY_ν)⁻¹Y_νᵀ, whose eigenpairs are E's singular pairs.
            guard LAPACKE_dpotrf(LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "U")), Int32(k), &core, Int32(k)) == 0 else {
                shift *= 10
                continue
            }
            cblas_dtrsm(
                CblasRowMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, Int32(d), Int32(k), 1, core,
                Int32(k), &shifted, Int32(k))
            var singular = [Double](repeating: 0, count: k), u = [Double](repeating: 0, count: d * k)
            var vt = [Double](repeating: 0, count: k * k)
            let info = LAPACKE_dgesdd(
                LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "S")), Int32(d), Int32(k), &shifted, Int32(k), &singular, &u,
                Int32(k), &vt, Int32(k))
            guard info == 0 else {
                throw UsageError(file: name, item: "curvature", "LAPACK dgesdd failed (info \(info))")
            }
            let top = (0..<r).map { max(0, singular[$0] * singular[$0] - shift) }
            let remainder = max(0, (trace - top.reduce(0, +)) / Double(d - r))
            // Q from the top r columns of U.
            let eigen = try FactorEigen.reflecting(
                dimension: d, rank: r, values: top + [Double](repeating: remainder, count: d - r), name: name
            ) { i, j in u[i * k + j] }
            return (eigen, attempt > 0 ? shift / max(top[0], .leastNormalMagnitude) : nil)
        }
        throw UsageError(
            file: name, item: "curvature", "the sketched factor is not positive semi-definite (Cholesky failed)")
    }
}
