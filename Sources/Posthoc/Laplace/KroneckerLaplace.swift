import Loaders
import Runtime

/// KFAC: per block W of θ (rows × columns: a LoRA factor, a core, a head's weight or bias) the GGN block
/// G ⊗ A, G over its outputs and A over its inputs
/// (`KroneckerFactors`), with no cross-factor terms, as laplace-torch's `KronLaplace`. Each factor is
/// eigendecomposed once; the prior is added to the products of eigenvalues, λ^G_o·λ^A_i + δ, never to the
/// factors themselves (laplace-torch's `damping=False`).
public struct KroneckerLaplace: LaplaceStructure {
    /// One block of θ with its two factors' eigendecompositions.
    public struct Block {
        public let block: LaplaceLayout.Block
        public let output: FactorEigen
        public let input: FactorEigen
    }

    public let blocks: [Block]
    public let clippedEigenvalues: Int
    /// Sketched factors whose Nyström shift had to be raised above float precision, with that shift
    /// relative to the factor's largest eigenvalue; empty for a posterior read back from a file.
    public let raisedShifts: [(factor: String, relativeShift: Double)]
    public var structure: HessianStructure { .kron }
    public var parameterCount: Int { blocks.reduce(0) { $0 + $1.block.count } }
    let backend: any ComputeBackend

    /// Each block's products λ^G_o·λ^A_i, output-major, kept (not recomputed per access).
    public let spectrum: [Double]

    init(layout: LaplaceLayout, factors: KroneckerFactors, backend: any ComputeBackend) throws {
        // Each distinct factor is decomposed once (q_proj's and v_proj's lora_A read the same input, so their
        // input factors are equal bit for bit), the decompositions spread over the backend's workers.
        var distinct: [[Float]: Int] = [:]
        var matrices: [(factor: KroneckerFactor, name: String)] = []
        func index(_ f: KroneckerFactor, _ name: String) -> Int {
            let key = f.key
            if let i = distinct[key] {
                matrices[i].name += " = \(name)"
                return i
            }
            distinct[key] = matrices.count
            matrices.append((f, name))
            return matrices.count - 1
        }
        let indices = zip(layout.blocks, factors.blocks).map { block, f in
            let name = "\(block.module) \(block.role.rawValue)"
            return (output: index(f.output, name), input: index(f.input, name))
        }
        // Eigenvectors kept in float as soon as each is done: the double copies of all of them at once would
        // double the fit's peak memory. A dense decomposition holds ~3n² doubles while it runs, so only factors
        // up to `parallelDimension` run side by side (~25 MB each); larger ones (up to 0.4 GB at 4096) one at a
        // time. A sketched factor's decomposition is small (n·k) whatever n.
        let results = EigenResults(count: matrices.count)
        let decompose = { @Sendable [matrices] (i: Int) in
            results.store(i, Result { try matrices[i].factor.eigen(name: matrices[i].name) })
        }
        let parallel = { (i: Int) in
            matrices[i].factor.sketch != nil || matrices[i].factor.dimension <= Self.parallelDimension
        }
        let small = matrices.indices.filter(parallel)
        backend.parallelFor(small.count) { decompose(small[$0]) }
        for i in matrices.indices where !parallel(i) { decompose(i) }
        let eigen = try results.values()
        var blocks: [Block] = [], clipped = 0
        for (block, i) in zip(layout.blocks, indices) {
            let g = eigen[i.output], a = eigen[i.input]
            clipped += g.clipped + a.clipped
            blocks.append(Block(block: block, output: g.eigen, input: a.eigen))
        }
        let raised = zip(matrices, eigen).compactMap { m, e in e.raisedShift.map { (m.name, $0) } }
        self.init(blocks: blocks, clipped: clipped, raisedShifts: raised, backend: backend)
    }

    /// The largest factor decomposed alongside others.
    static let parallelDimension = 1024

    /// Decompositions written by the workers, one slot each (a buffer, not an array: workers write
    /// different slots at once).
    private final class EigenResults: @unchecked Sendable {
        typealias Eigen = FactorDecomposition
        private let slots: UnsafeMutableBufferPointer<Result<Eigen, Error>?>
        init(count: Int) {
            slots = .allocate(capacity: count)
            slots.initialize(repeating: nil)
        }
        deinit {
            _ = slots.deinitialize()
            slots.deallocate()
        }
        func store(_ i: Int, _ r: Result<Eigen, Error>) { slots[i] = r }
        /// In order; the first failure is thrown.
        func values() throws -> [Eigen] { try slots.map { try $0!.get() } }
    }

    init(
        blocks: [Block], clipped: Int, raisedShifts: [(factor: String, relativeShift: Double)] = [],
        backend: any ComputeBackend
    ) {
        self.blocks = blocks
        self.raisedShifts = raisedShifts
        spectrum = blocks.flatMap { b in b.output.values.flatMap { g in b.input.values.map { g * $0 } } }
        clippedEigenvalues = clipped
        self.backend = backend
    }

    public var blockRanges: [Range<Int>]? { blocks.map(\.block.range) }

    public func toEigenbasis(_ x: [Float], rows n: Int) -> [Float] {
        var out = [Float](repeating: 0, count: x.count)
        let P = parameterCount
        for b in blocks {
            // V = U_Gᵀ · W · U_A for each of the n vectors' W: the n W's stacked for one product with U_A.
            let rows = b.block.rows, columns = b.block.columns, count = b.block.count
            var stacked = [Float](repeating: 0, count: n * count)
            for row in 0..<n {
                let start = row * P + b.block.offset
                stacked.replaceSubrange((row * count)..<((row + 1) * count), with: x[start..<(start + count)])
            }
            let t = b.input.apply(
                stacked, rows: n * rows, columns: columns, onTheLeft: false, transposed: false, backend: backend)
            for row in 0..<n {
                let v = b.output.apply(
                    Array(t[(row * count)..<((row + 1) * count)]), rows: rows, columns: columns, onTheLeft: true,
                    transposed: true, backend: backend)
                out.replaceSubrange((row * P + b.block.offset)..<(row * P + b.block.offset + count), with: v)
            }
        }
        return out
    }

    public func fromEigenbasis(_ y: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: y.count)
        for b in blocks {
            // W = U_G · V · U_Aᵀ.
            let start = b.block.offset
            let w = rotate(b, Array(y[start..<(start + b.block.count)]), inverse: true)
            out.replaceSubrange(start..<(start + b.block.count), with: w)
        }
        return out
    }

    /// U_Gᵀ·W·U_A, or U_G·W·U_Aᵀ when `inverse`, for one block's rows × columns matrix.
    private func rotate(_ b: Block, _ w: [Float], inverse: Bool) -> [Float] {
        let rows = b.block.rows, columns = b.block.columns
        let t = b.input.apply(w, rows: rows, columns: columns, onTheLeft: false, transposed: inverse, backend: backend)
        return b.output.apply(t, rows: rows, columns: columns, onTheLeft: true, transposed: !inverse, backend: backend)
    }
}
