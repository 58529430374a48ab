import CLAPACKE

/// `svd`: the top-rank singular subspace of W, as upstream computes it: scikit-learn's TruncatedSVD
/// (randomized, n_iter 10, 10 oversamples, LU-normalised power iterations, random_state 42) fitted on
/// Wᵀ. Its components are B's columns (orthonormal, each with its largest entry positive: sklearn's sign
/// rule), its transform Aᵀ, so A = Bᵀ·W carries the singular values; core I. Ten iterations leave the
/// trailing directions of a layer whose singular values are close short of the exact SVD (about 1e-2
/// on MiniLM's at rank 8), so the solver is reproduced, test matrix included, rather than replaced by
/// LAPACK's exact SVD; `.exact` is that, for comparison.
public struct SVDProjection: SubspaceProjection {
    public enum Solver: Sendable, Equatable {
        case randomized(iterations: Int, oversamples: Int, randomState: UInt32)
        case exact
    }

    public static let upstream = Solver.randomized(iterations: 10, oversamples: 10, randomState: 42)
    public let solver: Solver
    public init(solver: Solver = SVDProjection.upstream) { self.solver = solver }
    public var name: String { "svd" }

    public func project(_ layer: ProjectionLayer, rank: Int) throws -> ProjectedBases {
        try checkRank(rank, layer)
        let w = layer.weight
        let components: DoubleMatrix  // rank × out, Wᵀ's right singular vectors
        switch solver {
        case .exact:
            components = try w.singularValueDecomposition().u.selectingColumns(Array(0..<rank)).transposed
        case .randomized(let iterations, let oversamples, let seed):
            components = try Self.randomizedComponents(
                of: w.transposed, rank: rank, iterations: iterations, oversamples: oversamples, seed: seed)
        }
        let b = components.transposed
        return ProjectedBases(a: b.transposed * w, core: .identity(rank), b: b).signFixed()
    }

    /// sklearn's `randomized_svd(M, rank)`'s Vᵀ (rank × M.columns): a Gaussian test matrix from
    /// numpy's RandomState(seed), power iterations normalised by LU (scipy's `lu(permute_l=True)`), a QR
    /// range basis Q, then the SVD of Qᵀ·M. Like sklearn it works on Mᵀ when M has fewer rows than columns.
    static func randomizedComponents(
        of m: DoubleMatrix, rank: Int, iterations: Int, oversamples: Int, seed: UInt32
    ) throws -> DoubleMatrix {
        let transpose = m.rows < m.columns
        let a = transpose ? m.transposed : m
        let size = min(rank + oversamples, min(a.rows, a.columns))
        var random = NumpyRandomState(seed: seed)
        var q = DoubleMatrix(
            rows: a.columns, columns: size, values: (0..<(a.columns * size)).map { _ in random.normal() })
        let at = a.transposed
        for _ in 0..<iterations {
            q = try (a * q).permutedLowerFactor()
            q = try (at * q).permutedLowerFactor()
        }
        q = try (a * q).reducedQR().q
        let svd = try (q.transposed * a).singularValueDecomposition()
        let leading = Array(0..<rank)
        // Untransposed: M's Vᵀ is the small SVD's Vᵀ; transposed, it is (Q·Û)ᵀ.
        return transpose ? (q * svd.u).selectingColumns(leading).transposed : svd.vt.selectingRows(leading)
    }
}

extension DoubleMatrix {
    /// P·L of the partial-pivoting LU factorisation M = P·L·U (rows ≥ columns): scipy's
    /// `lu(M, permute_l=True)[0]`, the normaliser of sklearn's power iterations.
    func permutedLowerFactor() throws -> DoubleMatrix {
        precondition(rows >= columns)
        var lu = values
        var pivots = [Int32](repeating: 0, count: columns)
        let info = LAPACKE_dgetrf(LAPACK_ROW_MAJOR, Int32(rows), Int32(columns), &lu, Int32(columns), &pivots)
        guard info >= 0 else { throw LinearAlgebraFailure(routine: "dgetrf", info: info) }
        var l = DoubleMatrix(rows: rows, columns: columns)
        for i in 0..<rows {
            for j in 0..<min(i, columns) { l[i, j] = lu[i * columns + j] }
            if i < columns { l[i, i] = 1 }
        }
        // getrf swapped row i with row pivots[i] − 1, in order; undo the swaps in reverse on L.
        for i in (0..<columns).reversed() where Int(pivots[i]) - 1 != i {
            let p = Int(pivots[i]) - 1
            for j in 0..<columns { l.values.swapAt(i * columns + j, p * columns + j) }
        }
        return l
    }
}
