@testable import Posthoc

/// x = A⁻¹·b for a symmetric positive-definite A, by its Cholesky factor L (A = L·Lᵀ): the dense reference
/// the structures' J·(H + δ)⁻¹·Jᵀ are checked against.
struct CholeskySolve {
    let l: [[Double]]

    init(_ a: [[Double]]) { l = GLMLink.cholesky(a) }

    func callAsFunction(_ b: [Double]) -> [Double] {
        let n = l.count
        var y = b
        for i in 0..<n { for k in 0..<i { y[i] -= l[i][k] * y[k] }; y[i] /= l[i][i] }
        for i in stride(from: n - 1, through: 0, by: -1) {
            for k in (i + 1)..<n { y[i] -= l[k][i] * y[k] }
            y[i] /= l[i][i]
        }
        return y
    }
}
