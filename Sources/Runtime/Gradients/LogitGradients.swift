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

    /// Column c of the cross-entropy Hessian's square root per row: √p_c·(e_c − p), zeros for rows with at
    /// most c classes. Summed over c, the outer products give diag(p) − ppᵀ.
    public static func lossHessianColumn(_ c: Int, logits: [[Float]]) -> [[Float]] {
        logits.map { z in
            guard c < z.count else { return [Float](repeating: 0, count: z.count) }
            let p = softmax(z), root = p[c].squareRoot()
            return p.indices.map { k in Float(root * ((k == c ? 1 : 0) - p[k])) }
        }
    }

    /// One-hot in logit `k` of every row (rows with fewer classes get zeros): a Jacobian row per example.
    public static func unit(_ k: Int, classes: [Int]) -> [[Float]] {
        classes.map { c in (0..<c).map { $0 == k ? 1 : 0 } }
    }
}
