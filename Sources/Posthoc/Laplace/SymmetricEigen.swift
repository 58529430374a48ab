import CLAPACKE
import Loaders

/// Eigendecomposition of a symmetric n×n matrix, M = U·diag(λ)·Uᵀ, in double precision with LAPACK's
/// divide-and-conquer driver (the upper triangle is read, as torch's `eigh(UPLO="U")`). Eigenvalues below
/// zero, round-off of a positive semi-definite curvature, are clipped to 0 and counted, as laplace-torch
/// clamps them.
struct SymmetricEigen {
    /// Ascending.
    let values: [Double]
    /// Row-major n×n; column j is the eigenvector of values[j].
    let vectors: [Double]
    let clipped: Int

    init(_ matrix: [Double], dimension n: Int, name: String) throws {
        precondition(matrix.count == n * n)
        guard matrix.allSatisfy(\.isFinite) else {
            throw UsageError(file: name, item: "curvature", "the curvature holds NaN or infinite values")
        }
        var a = matrix
        var w = [Double](repeating: 0, count: n)
        let info = LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")), Int32(n), &a, Int32(n), &w)
        guard info == 0 else {
            throw UsageError(file: name, item: "curvature", "LAPACK dsyevd failed (info \(info))")
        }
        // A Gram matrix accumulated in float has negative eigenvalues of about 1e-7 of its largest; far
        // larger ones mean the curvature is not a curvature.
        let largest = w.map(abs).max() ?? 0
        if let lowest = w.first, lowest < -1e-3 * largest {
            throw UsageError(
                file: name, item: "curvature",
                "not positive semi-definite: eigenvalue \(lowest) against a largest of \(largest)")
        }
        clipped = w.filter { $0 < 0 }.count
        values = w.map { max(0, $0) }
        vectors = a
    }
}
