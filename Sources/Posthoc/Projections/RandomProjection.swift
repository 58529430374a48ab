import Loaders

/// `random` (RAND): Haar-distributed orthonormal bases that know nothing of W. L (in × rank) and
/// M (out × rank) are the Q factors of standard Gaussian matrices with the signs of R's diagonal moved
/// into Q (which makes Q exactly Haar); A = Lᵀ, B = M and core = Mᵀ·W·L, W's own coordinates in that
/// subspace. Layer i draws from stream i of `seed`: L's entries row by row, then M's.
public struct RandomProjection: SubspaceProjection {
    public let seed: UInt64
    public init(seed: UInt64) { self.seed = seed }
    public var name: String { "random" }
    public var usesSeed: Bool { true }

    public func project(_ layer: ProjectionLayer, rank: Int) throws -> ProjectedBases {
        try checkRank(rank, layer)
        var rng = SplitMix64.stream(layer.index, of: seed)
        let l = try Self.haarOrthonormal(rows: layer.weight.columns, columns: rank, rng: &rng)
        let m = try Self.haarOrthonormal(rows: layer.weight.rows, columns: rank, rng: &rng)
        return ProjectedBases(a: l.transposed, core: m.transposed * layer.weight * l, b: m)
    }

    static func haarOrthonormal(rows: Int, columns: Int, rng: inout SplitMix64) throws -> DoubleMatrix {
        let g = DoubleMatrix(
            rows: rows, columns: columns, values: (0..<(rows * columns)).map { _ in rng.nextGaussian() })
        let (q, diagonal) = try g.reducedQR()
        return q.scalingColumns(diagonal.map { $0 < 0 ? -1 : 1 })
    }
}
