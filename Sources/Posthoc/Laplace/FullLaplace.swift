import CLAPACKE
import Loaders
import Runtime

/// The dense GGN H = Σ_n J_nᵀ Λ_n J_n, for small θ (a head, a core subset): eigendecomposed once, so
/// every prior precision costs only a rescaling of its eigenvalues. The eigenbasis is dense, or — when H
/// came from fewer gradient rows than parameters, so has rank below P — the reflectors of its range
/// (`FactorEigen.reflectors`), the rest of the basis spanning its null space with eigenvalue 0 exactly.
public struct FullLaplace: LaplaceStructure {
    public let eigen: FactorEigen
    public let clippedEigenvalues: Int
    public var structure: HessianStructure { .full }
    public var parameterCount: Int { eigen.dimension }
    public var spectrum: [Double] { eigen.values }
    public var blockRanges: [Range<Int>]? { nil }
    let backend: any ComputeBackend

    /// The most parameters a full structure is fitted for: the fit holds about 28·P² bytes at its peak (the
    /// float Gram matrix, its double copy and LAPACK's workspace), 11 GB at this limit.
    public static let maximumParameters = 20_000

    init(eigen: FactorEigen, clipped: Int, backend: any ComputeBackend) {
        self.eigen = eigen
        clippedEigenvalues = clipped
        self.backend = backend
    }

    public func toEigenbasis(_ x: [Float], rows: Int) -> [Float] {
        eigen.apply(x, rows: rows, columns: parameterCount, onTheLeft: false, transposed: false, backend: backend)
    }

    public func fromEigenbasis(_ y: [Float]) -> [Float] {
        eigen.apply(y, rows: parameterCount, columns: 1, onTheLeft: true, transposed: false, backend: backend)
    }
}

/// Sums the full GGN H = Σ g·gᵀ over a fit's gradient rows g (one per example and backward pass), batch by
/// batch. While there are fewer than P/4 rows it keeps the rows G themselves (M × P floats): H = GᵀG then
/// has rank at most M, and the SVD G = W·S·Vᵀ gives its eigenpairs exactly — λ = s², eigenvectors V, the
/// other P − M eigenvalues exactly 0 — in O(M²·P) rather than the O(P³) of a dense decomposition (SmolLM2's
/// 3,840 LoRA-XS core parameters from 512 sentences: ~1 s instead of ~9 s), its peak (the rows, their double
/// copies, LAPACK's transposed copies and workspace) ~12·P² bytes, below the dense path's 28·P². Past P/4
/// rows it folds them into the dense Gram matrix and goes on there.
final class FullGGNAccumulator {
    let dimension: Int
    let backend: any ComputeBackend
    private var rows: [Float] = []
    private var gram: Tensor?

    init(dimension: Int, backend: any ComputeBackend) {
        self.dimension = dimension
        self.backend = backend
    }

    /// Adds g·gᵀ for each of `gradients` (each P long).
    func add(_ gradients: [[Float]]) {
        guard !gradients.isEmpty else { return }
        let P = dimension
        if gram == nil && 4 * (rows.count / P + gradients.count) < P {
            for g in gradients { rows += g }
            return
        }
        if gram == nil {
            gram = Tensor(shape: [P, P])
            addGram(rows, count: rows.count / P)
            rows = []
        }
        addGram(gradients.flatMap { $0 }, count: gradients.count)
    }

    private func addGram(_ g: [Float], count: Int) {
        guard count > 0, let gram else { return }
        let P = dimension
        g.withUnsafeBufferPointer { g in
            backend.gemmTransposedA(
                m: P, n: P, k: count, alpha: 1, a: g.baseAddress!, lda: P, b: g.baseAddress!, ldb: P, beta: 1,
                c: gram.pointer, ldc: P)
        }
    }

    /// The structure, decomposed.
    func structure() throws -> FullLaplace {
        let P = dimension, M = rows.count / P
        // No rows at all (H = 0) takes the dense path, whose eigenbasis of zero is any orthonormal one.
        if gram == nil && M == 0 { gram = Tensor(shape: [P, P]) }
        if let gram {
            let e = try SymmetricEigen(
                UnsafeBufferPointer(gram.storage).map(Double.init), dimension: P, name: "full GGN")
            return FullLaplace(
                eigen: FactorEigen(values: e.values, basis: .dense(e.vectors.map(Float.init))), clipped: e.clipped,
                backend: backend)
        }
        let g = DoubleMatrix(rows: M, columns: P, values: rows.map(Double.init))
        guard g.values.allSatisfy(\.isFinite) else {
            throw UsageError(file: "full GGN", item: "curvature", "the curvature holds NaN or infinite values")
        }
        let svd: (u: DoubleMatrix, s: [Double], vt: DoubleMatrix)
        do { svd = try g.singularValueDecomposition() } catch {
            throw UsageError(file: "full GGN", item: "curvature", "\(error)")
        }
        // Q from V's M columns (P × M).
        let eigen = try FactorEigen.reflecting(
            dimension: P, rank: M, values: svd.s.map { $0 * $0 } + [Double](repeating: 0, count: P - M),
            name: "full GGN"
        ) { i, j in svd.vt.values[j * P + i] }
        return FullLaplace(eigen: eigen, clipped: 0, backend: backend)
    }
}
