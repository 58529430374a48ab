import CBLAS
import Foundation
import Runtime

/// The covariance of a layer's inputs, accumulated batch by batch in double precision: each batch's
/// mean and centred Gram matrix are merged into the running ones exactly (Chan et al.'s pairwise
/// update, the online estimator upstream uses), so the result does not depend on how rows are grouped.
/// Σ = C / (n − 1). Thread-safe: a model may run its forward passes from several threads.
public final class InputCovariance: LinearInputObserver, @unchecked Sendable {
    public struct Estimate: Sendable {
        public let covariance: DoubleMatrix
        public let tokens: Int
    }

    public let dimension: Int
    private var mean: [Double]
    private var comoment: [Double]  // Σ (x − mean)(x − mean)ᵀ, upper triangle kept current
    private var count = 0
    private let lock = NSLock()

    public init(dimension: Int) {
        self.dimension = dimension
        mean = .init(repeating: 0, count: dimension)
        comoment = .init(repeating: 0, count: dimension * dimension)
    }

    public func observe(input: UnsafePointer<Float>, rows: Int, columns: Int) {
        precondition(columns == dimension, "inputs of width \(columns) for a \(dimension)-wide covariance")
        guard rows > 0 else { return }
        let n = dimension
        var centred = [Double](repeating: 0, count: rows * n)
        var batchMean = [Double](repeating: 0, count: n)
        for t in 0..<rows { for j in 0..<n { batchMean[j] += Double(input[t * n + j]) } }
        for j in 0..<n { batchMean[j] /= Double(rows) }
        for t in 0..<rows { for j in 0..<n { centred[t * n + j] = Double(input[t * n + j]) - batchMean[j] } }
        lock.lock()
        defer { lock.unlock() }
        let total = count + rows
        let cross = Double(count) * Double(rows) / Double(total)
        var delta = [Double](repeating: 0, count: n)
        for j in 0..<n {
            delta[j] = batchMean[j] - mean[j]
            mean[j] += delta[j] * Double(rows) / Double(total)
        }
        cblas_dsyrk(
            CblasRowMajor, CblasUpper, CblasTrans, Int32(n), Int32(rows), 1, centred, Int32(n), 1, &comoment, Int32(n))
        cblas_dsyr(CblasRowMajor, CblasUpper, Int32(n), cross, delta, 1, &comoment, Int32(n))
        count = total
    }

    public var tokens: Int { lock.withLock { count } }

    /// Σ = C / (n − 1), both triangles filled; nil before two inputs.
    public var estimate: Estimate? {
        lock.lock()
        defer { lock.unlock() }
        guard count >= 2 else { return nil }
        var sigma = DoubleMatrix(rows: dimension, columns: dimension)
        let scale = 1 / Double(count - 1)
        for i in 0..<dimension {
            for j in i..<dimension {
                let v = comoment[i * dimension + j] * scale
                sigma[i, j] = v
                sigma[j, i] = v
            }
        }
        return Estimate(covariance: sigma, tokens: count)
    }
}
