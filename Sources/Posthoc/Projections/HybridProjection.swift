/// A hybrid (`dct-1/2_svd`, `dct-1/4_svd-1/4_random`): each part gets rank ⌊r·f⌋ of its fraction f and
/// the one part without a fraction the rest; the parts' bases are concatenated (A's rows, B's columns,
/// in the order the name gives them) and their cores put on the diagonal. A part left with rank 0 is
/// skipped, as upstream does.
public struct HybridProjection: SubspaceProjection {
    public struct Part: Sendable {
        public let projection: any SubspaceProjection
        /// nil: the part that takes the remaining rank.
        public let fraction: Double?
    }

    public let name: String
    public let parts: [Part]
    public var needsInputCovariance: Bool { parts.contains { $0.projection.needsInputCovariance } }
    public var usesSeed: Bool { parts.contains { $0.projection.usesSeed } }
    public var usesDCTSelection: Bool { parts.contains { $0.projection.usesDCTSelection } }

    /// The rank of each part, in order; refuses a split that does not add up to `rank`.
    public func ranks(total rank: Int) throws -> [Int] {
        var ranks = parts.map { p in p.fraction.map { Int((Double(rank) * $0 + 1e-9).rounded(.down)) } ?? 0 }
        let assigned = ranks.reduce(0, +)
        if let rest = parts.firstIndex(where: { $0.fraction == nil }) {
            ranks[rest] = rank - assigned
        } else if assigned != rank {
            throw ProjectionError.badHybrid(
                name: name,
                reason: "its fractions give ranks \(ranks) that sum to \(assigned), not \(rank); "
                    + "name one part without a fraction to take the rest")
        }
        return ranks
    }

    public func project(_ layer: ProjectionLayer, rank: Int) throws -> ProjectedBases {
        try checkRank(rank, layer)
        var pieces: [ProjectedBases] = []
        for (part, r) in zip(parts, try ranks(total: rank)) where r > 0 {
            pieces.append(try part.projection.project(layer, rank: r))
        }
        return ProjectedBases(
            a: .stackingRows(pieces.map(\.a)), core: .blockDiagonal(pieces.map(\.core)),
            b: .stackingColumns(pieces.map(\.b)))
    }
}

/// A projection by the name upstream's configurations use: a family (`svd`, `cca` or `wsvd`, `dct`,
/// `random` or `rand`) or a hybrid of them (`dct-1/2_svd`).
public enum ProjectionSpec {
    public static let families = ["svd", "wsvd", "cca", "dct", "rand", "random"]

    public static func parse(
        _ name: String, seed: UInt64, dctSelection: DCTProjection.Selection = .energy
    ) throws -> any SubspaceProjection {
        func family(_ f: String) throws -> any SubspaceProjection {
            switch f {
            case "svd": SVDProjection()
            case "wsvd", "cca": WhitenedSVDProjection()
            case "dct": DCTProjection(selection: dctSelection)
            case "rand", "random": RandomProjection(seed: seed)
            default: throw ProjectionError.unknown(name: f)
            }
        }
        guard name.contains("_") || name.contains("-") else { return try family(name) }
        var parts: [HybridProjection.Part] = []
        var seen = Set<String>()
        for piece in name.split(separator: "_", omittingEmptySubsequences: false).map(String.init) {
            let fields = piece.split(separator: "-", maxSplits: 1).map(String.init)
            let projection = try family(fields.first ?? "")
            guard seen.insert(projection.name).inserted else {
                throw ProjectionError.badHybrid(name: name, reason: "it names \(projection.name) twice")
            }
            guard fields.count == 2 else {
                parts.append(.init(projection: projection, fraction: nil))
                continue
            }
            guard let f = fraction(fields[1]), f >= 0, f <= 1 else {
                throw ProjectionError.badHybrid(name: name, reason: "'\(fields[1])' is not a fraction (X/Y or 0.25)")
            }
            parts.append(.init(projection: projection, fraction: f))
        }
        guard parts.filter({ $0.fraction == nil }).count <= 1 else {
            throw ProjectionError.badHybrid(name: name, reason: "only one part may go without a fraction")
        }
        let sum = parts.compactMap(\.fraction).reduce(0, +)
        guard sum <= 1 + 1e-9 else {
            throw ProjectionError.badHybrid(name: name, reason: "its fractions sum to \(sum), more than 1")
        }
        guard parts.contains(where: { $0.fraction == nil }) || abs(sum - 1) < 1e-9 else {
            throw ProjectionError.badHybrid(
                name: name, reason: "its fractions sum to \(sum) and no part (one without a fraction) takes the rest")
        }
        return HybridProjection(name: name, parts: parts)
    }

    static func fraction(_ s: String) -> Double? {
        let halves = s.split(separator: "/", omittingEmptySubsequences: false)
        if halves.count == 2, let n = Int(halves[0]), let d = Int(halves[1]), d > 0 { return Double(n) / Double(d) }
        return halves.count == 1 ? Double(s) : nil
    }
}
