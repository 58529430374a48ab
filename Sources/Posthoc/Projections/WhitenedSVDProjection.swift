/// `wsvd` (upstream `cca`): the SVD of the whitened weight W̃ = W·Σ^½, Σ the covariance of the layer's
/// inputs (centred, as upstream's estimator is), which keeps the directions the inputs vary along
/// rather than those of ‖W − Ŵ‖. With
/// eigh(Σ) = Q·diag(λ)·Qᵀ, λ clamped at 1e-10, and W̃ = Ũ·S·Ṽᵀ: B = Ũ_r, V = Σ^-½·Ṽ_r, A's rows
/// the unit-normalised columns of V (norms clamped at 1e-8) and core diag(S·‖V_j‖).
public struct WhitenedSVDProjection: SubspaceProjection {
    public static let eigenvalueClamp = 1e-10
    public init() {}
    public var name: String { "cca" }
    public var needsInputCovariance: Bool { true }

    public func project(_ layer: ProjectionLayer, rank: Int) throws -> ProjectedBases {
        try checkRank(rank, layer)
        guard let estimate = layer.inputCovariance else {
            throw ProjectionError.noInputCovariance(module: layer.module)
        }
        let n = layer.weight.columns
        precondition(estimate.covariance.rows == n, "\(layer.module): covariance of the wrong width")
        let (lambda, q) = try estimate.covariance.symmetricEigen()
        let clamped = lambda.filter { $0 <= Self.eigenvalueClamp }.count
        if estimate.tokens <= n || n - clamped < rank {
            throw ProjectionError.singularCovariance(
                module: layer.module, clamped: clamped, dimension: n, tokens: estimate.tokens, rank: rank)
        }
        let l = lambda.map { max($0, Self.eigenvalueClamp) }
        let qt = q.transposed
        let whitener = q.scalingColumns(l.map { $0.squareRoot() }) * qt
        let inverseWhitener = q.scalingColumns(l.map { 1 / $0.squareRoot() }) * qt
        let svd = try (layer.weight * whitener).singularValueDecomposition()
        let leading = Array(0..<rank)
        // V = Σ^-½·Ṽ_r (in × rank), its columns normalised into A's rows.
        let v = inverseWhitener * svd.vt.selectingRows(leading).transposed
        var norms = [Double](repeating: 0, count: rank)
        for j in 0..<rank {
            var s = 0.0
            for i in 0..<n { s += v[i, j] * v[i, j] }
            norms[j] = max(s.squareRoot(), 1e-8)
        }
        var core = DoubleMatrix(rows: rank, columns: rank)
        for j in 0..<rank { core[j, j] = svd.s[j] * norms[j] }
        return ProjectedBases(
            a: v.scalingColumns(norms.map { 1 / $0 }).transposed, core: core, b: svd.u.selectingColumns(leading)
        ).signFixed()
    }
}
