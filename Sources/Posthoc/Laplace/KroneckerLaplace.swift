import Loaders
import Runtime

/// KFAC: per block W of θ (rows × columns: a LoRA factor, a core, a head's weight or bias) the GGN block G ⊗ A, G over its outputs and A over its inputs
/// (`KroneckerFactors`), with no cross-factor terms, as laplace-torch's `KronLaplace`. Each factor is
/// eigendecomposed once; the prior is added to the products of eigenvalues, λ^G_o·λ^A_i + δ, never to the
/// factors themselves (laplace-torch's `damping=False`).
public struct KroneckerLaplace: LaplaceStructure {
    /// One block of θ with its two factors' eigenbases (row-major, eigenvectors in columns).
    public struct Block {
        public let block: LaplaceLayout.Block
        public let output: (values: [Double], vectors: [Float])
        public let input: (values: [Double], vectors: [Float])
    }

    public let blocks: [Block]
    public let clippedEigenvalues: Int
    public var structure: HessianStructure { .kron }
    public var parameterCount: Int { blocks.reduce(0) { $0 + $1.block.count } }
    let backend: any ComputeBackend

    public var spectrum: [Double] {
        blocks.flatMap { b in b.output.values.flatMap { g in b.input.values.map { g * $0 } } }
    }

    init(layout: LaplaceLayout, factors: KroneckerFactors, backend: any ComputeBackend) throws {
        var blocks: [Block] = [], clipped = 0
        for (block, f) in zip(layout.blocks, factors.blocks) {
            let name = "\(block.module) \(block.role.rawValue)"
            let g = try SymmetricEigen(f.output.map(Double.init), dimension: block.rows, name: name)
            let a = try SymmetricEigen(f.input.map(Double.init), dimension: block.columns, name: name)
            clipped += g.clipped + a.clipped
            blocks.append(
                Block(
                    block: block, output: (g.values, g.vectors.map(Float.init)),
                    input: (a.values, a.vectors.map(Float.init))))
        }
        self.blocks = blocks
        clippedEigenvalues = clipped
        self.backend = backend
    }

    public func functionalVariance(_ jacobian: [[Float]], prior: Double) -> [[Double]] {
        let K = jacobian.count
        var variance = [[Double]](repeating: [Double](repeating: 0, count: K), count: K)
        for b in blocks {
            let rows = b.block.rows, columns = b.block.columns
            // V_k = U_Gᵀ · W_k · U_A: the k-th Jacobian row of this block in the factors' eigenbasis.
            let rotated = jacobian.map { row -> Tensor in
                let w = Tensor(
                    shape: [rows, columns], values: Array(row[b.block.offset..<(b.block.offset + b.block.count)]))
                let t = Tensor(shape: [rows, columns]), v = Tensor(shape: [rows, columns])
                b.input.vectors.withUnsafeBufferPointer { ua in
                    backend.gemm(
                        m: rows, n: columns, k: columns, alpha: 1, a: w.pointer, lda: columns, b: ua.baseAddress!,
                        ldb: columns, transposeB: false, beta: 0, c: t.pointer, ldc: columns)
                }
                b.output.vectors.withUnsafeBufferPointer { ug in
                    backend.gemmTransposedA(
                        m: rows, n: columns, k: rows, alpha: 1, a: ug.baseAddress!, lda: rows, b: t.pointer,
                        ldb: columns, beta: 0, c: v.pointer, ldc: columns)
                }
                return withExtendedLifetime((w, t)) { v }
            }
            var inverse = [Double](repeating: 0, count: rows * columns)
            for o in 0..<rows {
                for i in 0..<columns { inverse[o * columns + i] = 1 / (b.output.values[o] * b.input.values[i] + prior) }
            }
            withExtendedLifetime(rotated) {
                for k in 0..<K {
                    for l in k..<K {
                        var s = 0.0
                        let vk = rotated[k].pointer, vl = rotated[l].pointer
                        for i in 0..<(rows * columns) { s += Double(vk[i]) * Double(vl[i]) * inverse[i] }
                        variance[k][l] += s
                        if l != k { variance[l][k] += s }
                    }
                }
            }
        }
        return variance
    }
}
