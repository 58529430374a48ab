import CLAPACKE
import Loaders
import Runtime

/// The eigenbasis Q (n × n, orthonormal) of one Kronecker factor, with the factor's eigenvalues in the
/// same order: dense, or — for a factor too wide to hold (`NystromSketch`) — implicit, as the r Householder
/// reflectors of a QR factorisation of its top-r eigenvectors U. Q's first r columns are then U (up to
/// sign) and the other n − r an orthonormal basis of U's complement, whose eigenvalues are all the
/// remainder's. Q is never formed: applying it costs O(n·r) per vector and storing it n·r floats, yet every
/// structure-level operation (rotations, the spectrum, the marginal likelihood) stays exact in that basis.
public struct FactorEigen: Sendable {
    public enum Basis: Sendable {
        /// n × n row-major, eigenvectors in columns.
        case dense([Float])
        /// LAPACK's `geqrf` output for U (n × r row-major: the reflectors below the diagonal) and its τ.
        case reflectors([Float], tau: [Float])
    }

    /// n eigenvalues, in basis order.
    public let values: [Double]
    public let basis: Basis
    public var dimension: Int { values.count }

    public init(values: [Double], basis: Basis) {
        switch basis {
        case .dense(let v): precondition(v.count == values.count * values.count, "a dense basis is n × n")
        case .reflectors(let a, let tau):
            precondition(a.count == values.count * tau.count && tau.count < values.count, "n × r reflectors, r < n")
        }
        self.values = values
        self.basis = basis
    }

    /// The eigendecomposition whose basis starts with r orthonormal columns U (`column(i, j)` = U[i][j], n × r,
    /// r < n), kept as the reflectors of U's QR factorisation (computed in float, so τ matches the stored
    /// vectors); `values` holds all n eigenvalues, U's first. `name` names the matrix in errors.
    static func reflecting(
        dimension n: Int, rank r: Int, values: [Double], name: String, column: (_ i: Int, _ j: Int) -> Double
    ) throws -> FactorEigen {
        var reflectors = [Float](repeating: 0, count: n * r)
        for i in 0..<n { for j in 0..<r { reflectors[i * r + j] = Float(column(i, j)) } }
        var tau = [Float](repeating: 0, count: r)
        let info = LAPACKE_sgeqrf(LAPACK_ROW_MAJOR, Int32(n), Int32(r), &reflectors, Int32(r), &tau)
        guard info == 0 else { throw UsageError(file: name, item: "curvature", "LAPACK sgeqrf failed (info \(info))") }
        return FactorEigen(values: values, basis: .reflectors(reflectors, tau: tau))
    }

    /// Q as an n × n row-major matrix (eigenvectors in columns), formed: for tests and small factors.
    public func matrix() -> [Float] {
        let n = dimension
        var identity = [Float](repeating: 0, count: n * n)
        for i in 0..<n { identity[i * n + i] = 1 }
        return apply(identity, rows: n, columns: n, onTheLeft: true, transposed: false, backend: nil)
    }

    /// Q·C (`onTheLeft`, C is n × columns) or C·Q (C is rows × n), with Qᵀ instead of Q when `transposed`.
    /// `backend` does a dense basis's product (nil: LAPACK's reference path, for tests).
    func apply(
        _ c: [Float], rows: Int, columns: Int, onTheLeft: Bool, transposed: Bool, backend: (any ComputeBackend)?
    ) -> [Float] {
        let n = dimension
        precondition(onTheLeft ? rows == n : columns == n, "the basis is \(n) wide")
        switch basis {
        case .dense(let q):
            var out = [Float](repeating: 0, count: c.count)
            let multiply = { (c: UnsafePointer<Float>, q: UnsafePointer<Float>, o: UnsafeMutablePointer<Float>) in
                guard let backend else {
                    // Plain loops: only `matrix()` comes here, on small factors.
                    for i in 0..<rows {
                        for j in 0..<columns {
                            var s: Float = 0
                            for k in 0..<n {
                                s +=
                                    onTheLeft
                                    ? (transposed ? q[k * n + i] : q[i * n + k]) * c[k * columns + j]
                                    : c[i * columns + k] * (transposed ? q[j * n + k] : q[k * n + j])
                            }
                            o[i * columns + j] = s
                        }
                    }
                    return
                }
                switch (onTheLeft, transposed) {
                case (true, false):
                    backend.gemm(
                        m: rows, n: columns, k: n, alpha: 1, a: q, lda: n, b: c, ldb: columns, transposeB: false,
                        beta: 0, c: o, ldc: columns)
                case (true, true):
                    backend.gemmTransposedA(
                        m: rows, n: columns, k: n, alpha: 1, a: q, lda: n, b: c, ldb: columns, beta: 0, c: o,
                        ldc: columns)
                case (false, let t):
                    backend.gemm(
                        m: rows, n: columns, k: n, alpha: 1, a: c, lda: columns, b: q, ldb: n, transposeB: t,
                        beta: 0, c: o, ldc: columns)
                }
            }
            c.withUnsafeBufferPointer { c in
                q.withUnsafeBufferPointer { q in
                    out.withUnsafeMutableBufferPointer { multiply(c.baseAddress!, q.baseAddress!, $0.baseAddress!) }
                }
            }
            return out
        case .reflectors(let a, let tau):
            var out = c  // sormqr overwrites C with the product
            let info = LAPACKE_sormqr(
                LAPACK_ROW_MAJOR, CChar(UInt8(ascii: onTheLeft ? "L" : "R")),
                CChar(UInt8(ascii: transposed ? "T" : "N")), Int32(rows), Int32(columns), Int32(tau.count), a,
                Int32(tau.count), tau, &out, Int32(columns))
            precondition(info == 0, "LAPACK sormqr failed (info \(info))")
            return out
        }
    }
}
