import CBLAS
import CLAPACKE

/// A dense row-major matrix in double precision: the projections are computed in Double from Float
/// weights, with BLAS doing the products and LAPACK the factorisations, then stored back as Float.
public struct DoubleMatrix: Sendable, Equatable {
    public let rows: Int
    public let columns: Int
    public var values: [Double]

    public init(rows: Int, columns: Int, values: [Double]) {
        precondition(values.count == rows * columns, "\(values.count) values for a \(rows)×\(columns) matrix")
        self.rows = rows
        self.columns = columns
        self.values = values
    }

    public init(rows: Int, columns: Int) {
        self.init(rows: rows, columns: columns, values: .init(repeating: 0, count: rows * columns))
    }

    public init(rows: Int, columns: Int, floats: UnsafePointer<Float>) {
        self.init(rows: rows, columns: columns, values: (0..<(rows * columns)).map { Double(floats[$0]) })
    }

    public static func identity(_ n: Int) -> DoubleMatrix {
        var m = DoubleMatrix(rows: n, columns: n)
        for i in 0..<n { m[i, i] = 1 }
        return m
    }

    public subscript(i: Int, j: Int) -> Double {
        get { values[i * columns + j] }
        set { values[i * columns + j] = newValue }
    }

    public var transposed: DoubleMatrix {
        var t = DoubleMatrix(rows: columns, columns: rows)
        for i in 0..<rows { for j in 0..<columns { t.values[j * rows + i] = values[i * columns + j] } }
        return t
    }

    public var floats: [Float] { values.map(Float.init) }

    public var frobeniusNorm: Double { values.reduce(0) { $0 + $1 * $1 }.squareRoot() }

    public static func * (l: DoubleMatrix, r: DoubleMatrix) -> DoubleMatrix {
        precondition(l.columns == r.rows, "\(l.rows)×\(l.columns) · \(r.rows)×\(r.columns)")
        var out = DoubleMatrix(rows: l.rows, columns: r.columns)
        guard l.rows > 0, r.columns > 0, l.columns > 0 else { return out }
        cblas_dgemm(
            CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(l.rows), Int32(r.columns), Int32(l.columns), 1,
            l.values, Int32(l.columns), r.values, Int32(r.columns), 0, &out.values, Int32(r.columns))
        return out
    }

    public static func - (l: DoubleMatrix, r: DoubleMatrix) -> DoubleMatrix {
        precondition(l.rows == r.rows && l.columns == r.columns)
        return DoubleMatrix(rows: l.rows, columns: l.columns, values: zip(l.values, r.values).map { $0 - $1 })
    }

    public func selectingRows(_ indices: [Int]) -> DoubleMatrix {
        var out = DoubleMatrix(rows: indices.count, columns: columns)
        for (k, i) in indices.enumerated() {
            for j in 0..<columns { out.values[k * columns + j] = values[i * columns + j] }
        }
        return out
    }

    public func selectingColumns(_ indices: [Int]) -> DoubleMatrix {
        var out = DoubleMatrix(rows: rows, columns: indices.count)
        for i in 0..<rows {
            for (k, j) in indices.enumerated() { out.values[i * indices.count + k] = values[i * columns + j] }
        }
        return out
    }

    /// Row i multiplied by scales[i].
    public func scalingRows(_ scales: [Double]) -> DoubleMatrix {
        precondition(scales.count == rows)
        var out = self
        for i in 0..<rows { for j in 0..<columns { out.values[i * columns + j] *= scales[i] } }
        return out
    }

    /// Column j multiplied by scales[j].
    public func scalingColumns(_ scales: [Double]) -> DoubleMatrix {
        precondition(scales.count == columns)
        var out = self
        for i in 0..<rows { for j in 0..<columns { out.values[i * columns + j] *= scales[j] } }
        return out
    }

    /// The blocks stacked on the diagonal, zeros elsewhere.
    public static func blockDiagonal(_ blocks: [DoubleMatrix]) -> DoubleMatrix {
        var out = DoubleMatrix(rows: blocks.reduce(0) { $0 + $1.rows }, columns: blocks.reduce(0) { $0 + $1.columns })
        var r = 0, c = 0
        for b in blocks {
            for i in 0..<b.rows { for j in 0..<b.columns { out[r + i, c + j] = b[i, j] } }
            r += b.rows
            c += b.columns
        }
        return out
    }

    public static func stackingRows(_ parts: [DoubleMatrix]) -> DoubleMatrix {
        precondition(Set(parts.map(\.columns)).count <= 1)
        return DoubleMatrix(
            rows: parts.reduce(0) { $0 + $1.rows }, columns: parts.first?.columns ?? 0, values: parts.flatMap(\.values))
    }

    public static func stackingColumns(_ parts: [DoubleMatrix]) -> DoubleMatrix {
        stackingRows(parts.map(\.transposed)).transposed
    }
}

/// LAPACK failed on a matrix that passed every check before it (a non-finite value, no convergence).
public struct LinearAlgebraFailure: Error, CustomStringConvertible {
    public let routine: String
    public let info: Int32
    public var description: String { "LAPACK \(routine) failed (info \(info))" }
}

extension DoubleMatrix {
    /// Thin SVD M = U·diag(s)·Vᵀ with k = min(rows, columns): U rows×k, s descending, Vᵀ k×columns
    /// (LAPACK's divide-and-conquer dgesdd).
    public func singularValueDecomposition() throws -> (u: DoubleMatrix, s: [Double], vt: DoubleMatrix) {
        let k = min(rows, columns)
        var a = values
        var s = [Double](repeating: 0, count: k)
        var u = [Double](repeating: 0, count: rows * k)
        var vt = [Double](repeating: 0, count: k * columns)
        let info = LAPACKE_dgesdd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "S")), Int32(rows), Int32(columns), &a, Int32(columns), &s, &u,
            Int32(k), &vt, Int32(columns))
        guard info == 0 else { throw LinearAlgebraFailure(routine: "dgesdd", info: info) }
        return (DoubleMatrix(rows: rows, columns: k, values: u), s, DoubleMatrix(rows: k, columns: columns, values: vt))
    }

    /// Reduced QR (rows ≥ columns): Q rows×columns with orthonormal columns and the diagonal of R.
    public func reducedQR() throws -> (q: DoubleMatrix, rDiagonal: [Double]) {
        precondition(rows >= columns)
        var a = values
        var tau = [Double](repeating: 0, count: columns)
        var info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, Int32(rows), Int32(columns), &a, Int32(columns), &tau)
        guard info == 0 else { throw LinearAlgebraFailure(routine: "dgeqrf", info: info) }
        let diagonal = (0..<columns).map { a[$0 * columns + $0] }
        info = LAPACKE_dorgqr(
            LAPACK_ROW_MAJOR, Int32(rows), Int32(columns), Int32(columns), &a, Int32(columns), &tau)
        guard info == 0 else { throw LinearAlgebraFailure(routine: "dorgqr", info: info) }
        return (DoubleMatrix(rows: rows, columns: columns, values: a), diagonal)
    }

    /// Eigendecomposition of a symmetric matrix (upper triangle read): eigenvalues ascending, eigenvector j
    /// in column j (LAPACK dsyevd).
    public func symmetricEigen() throws -> (values: [Double], vectors: DoubleMatrix) {
        precondition(rows == columns)
        var a = values
        var w = [Double](repeating: 0, count: rows)
        let info = LAPACKE_dsyevd(
            LAPACK_ROW_MAJOR, CChar(UInt8(ascii: "V")), CChar(UInt8(ascii: "U")), Int32(rows), &a, Int32(rows), &w)
        guard info == 0 else { throw LinearAlgebraFailure(routine: "dsyevd", info: info) }
        return (w, DoubleMatrix(rows: rows, columns: rows, values: a))
    }
}
