import Foundation
import Loaders

/// ∂L/∂logits for the outputs a backward pass starts from: (a) the cross-entropy of the true labels,
/// (b) of labels drawn from the model's own predictive (the Fisher's Monte Carlo estimate), (c) one logit
/// at a time (rows of the Jacobian, for the generalised Gauss–Newton). Rows are examples; each row has its
/// own number of classes (multiple-choice tasks mix 3-, 4- and 5-choice questions).
public enum LogitGradients {
    /// Softmax in double precision.
    @inlinable
    public static func softmax<Value: BinaryFloatingPoint>(_ z: [Value]) -> [Double] {
        let m = Double(z.max() ?? 0)
        let e = z.map { Foundation.exp(Double($0) - m) }
        let s = e.reduce(0, +)
        return e.map { $0 / s }
    }

    /// Mean cross-entropy over the rows and its gradient: (softmax − onehot) · weight, with
    /// weight = 1 / rows unless given (gradient accumulation divides by the whole effective batch).
    public static func crossEntropy(
        logits: [[Float]], labels: [Int], weight: Double? = nil
    ) -> (loss: Double, gradients: [[Float]]) {
        precondition(logits.count == labels.count, "one label per row")
        let w = weight ?? 1 / Double(max(1, logits.count))
        var loss = 0.0
        let grads = zip(logits, labels).map { z, y -> [Float] in
            precondition(y >= 0 && y < z.count, "label \(y) outside 0..<\(z.count)")
            let p = softmax(z)
            loss -= Foundation.log(max(p[y], 1e-300))
            return p.indices.map { k in Float((p[k] - (k == y ? 1 : 0)) * w) }
        }
        return (loss / Double(max(1, logits.count)), grads)
    }

    /// Labels drawn from each row's softmax, for the Monte Carlo Fisher. Row r is example `examples[r]` of
    /// the dataset and its draw is keyed by (seed, example), so the labels do not depend on the batch size.
    public static func sampledLabels(logits: [[Float]], examples: [Int], seed: UInt64) -> [Int] {
        precondition(logits.count == examples.count, "one example index per row")
        return zip(logits, examples).map { z, example in
            var rng = SplitMix64.stream(example, of: seed)
            let p = softmax(z)
            let u = Double(rng.next() >> 11) / Double(1 << 53)
            var acc = 0.0
            for (k, pk) in p.enumerated() { acc += pk; if u < acc { return k } }
            return p.count - 1
        }
    }

    /// A square root of each row's cross-entropy Hessian diag(p) − ppᵀ with one column fewer than the row
    /// has classes: `[column][row]`, each entry over the row's classes, S·Sᵀ = diag(p) − ppᵀ exactly. The
    /// Hessian is singular along 1 (softmax ignores a common shift), so K − 1 backward passes give the whole
    /// GGN where K columns of diag(√p) − p√pᵀ would take K. The loss depends on z only through the differences
    /// d = D·z to the likeliest class r, whose Hessian H_d = diag(p̃) − p̃p̃ᵀ (p̃: p without r) is positive
    /// definite; with its Cholesky factor L, S = Dᵀ·L: the rows of L, and at r minus their column sums.
    /// Rows with fewer classes get zero columns past their own K − 1.
    public static func lossHessianSquareRoot(logits: [[Float]]) -> [[[Float]]] {
        let columns = max(0, (logits.map(\.count).max() ?? 0) - 1)
        var roots = [[[Float]]](repeating: logits.map { [Float](repeating: 0, count: $0.count) }, count: columns)
        for (row, z) in logits.enumerated() where z.count > 1 {
            let p = softmax(z), K = p.count, m = K - 1
            let r = p.indices.max { p[$0] < p[$1] }!
            let others = p.indices.filter { $0 != r }
            // Cholesky of H_d (m × m, lower), in place; a pivot lost to round-off (p_k ≈ 0) leaves its column zero.
            var h = [Double](repeating: 0, count: m * m)
            for i in 0..<m {
                for j in 0..<m { h[i * m + j] = (i == j ? p[others[i]] : 0) - p[others[i]] * p[others[j]] }
            }
            for j in 0..<m {
                var d = h[j * m + j]
                for k in 0..<j { d -= h[j * m + k] * h[j * m + k] }
                let pivot = d > 0 ? d.squareRoot() : 0
                h[j * m + j] = pivot
                for i in (j + 1)..<m {
                    var v = h[i * m + j]
                    for k in 0..<j { v -= h[i * m + k] * h[j * m + k] }
                    h[i * m + j] = pivot > 0 ? v / pivot : 0
                }
            }
            for c in 0..<m {
                var sum = 0.0
                for i in c..<m {
                    roots[c][row][others[i]] = Float(h[i * m + c])
                    sum += h[i * m + c]
                }
                roots[c][row][r] = Float(-sum)
            }
        }
        return roots
    }

    /// One-hot in logit `k` of every row (rows with fewer classes get zeros): a Jacobian row per example.
    public static func unit(_ k: Int, classes: [Int]) -> [[Float]] {
        classes.map { c in (0..<c).map { $0 == k ? 1 : 0 } }
    }
}
