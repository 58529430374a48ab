import CLAPACKE

/// Thin singular value decomposition M = U·diag(s)·Vᵀ of a row-major m×n matrix with m ≥ n (LoRA's B is
/// out × rank), computed in Double with LAPACK's divide-and-conquer driver.
public struct ThinSVD {
    public let u: [Double]  // m × n
    public let s: [Double]  // n, descending
    public let vt: [Double]  // n × n

    public enum Failure: Error, CustomStringConvertible {
        case shape(m: Int, n: Int)
        case lapack(Int32)
        public var description: String {
            switch self {
            case .shape(let m, let n): "thin SVD needs rows ≥ columns, got \(m)×\(n)"
            case .lapack(let info): "LAPACK dgesdd failed (info \(info))"
            }
        }
    }

    public init(_ matrix: [Double], rows m: Int, columns n: Int) throws {
        guard m >= n, n > 0, matrix.count == m * n else { throw Failure.shape(m: m, n: n) }
        var a = matrix
        var s = [Double](repeating: 0, count: n)
        var u = [Double](repeating: 0, count: m * n)
        var vt = [Double](repeating: 0, count: n * n)
        let jobz = CChar(truncatingIfNeeded: UInt8(ascii: "S"))
        let info = LAPACKE_dgesdd(
            LAPACK_ROW_MAJOR, jobz, Int32(m), Int32(n), &a, Int32(n), &s, &u, Int32(n), &vt, Int32(n))
        guard info == 0 else { throw Failure.lapack(info) }
        self.u = u
        self.s = s
        self.vt = vt
    }
}
