import Foundation
import Loaders

/// Weight noise for Monte Carlo predictions: packed sequence s (one example under one weight sample) uses
/// its own draw E_s of every noisy LoRA A matrix, rank × in with row i scaled by the patch's standard
/// deviation, generated from `seeds[s]` and the patch's key. The same seed therefore gives the same sample
/// whatever the batch composition or thread count.
public struct WeightNoise: Sendable {
    /// The input rows of each sequence in the matrix the layer sees.
    public let rows: [Range<Int>]
    public let seeds: [UInt64]

    public init(rows: [Range<Int>], seeds: [UInt64]) {
        precondition(rows.count == seeds.count)
        self.rows = rows
        self.seeds = seeds
    }

    /// The same sequences seen one row each (the last layer runs only at each scored position).
    public var oneRowEach: WeightNoise { WeightNoise(rows: seeds.indices.map { $0..<($0 + 1) }, seeds: seeds) }

    /// Fills `e` (rank × in) with N(0, std²): `std` holds one value per row (TFB) or per element (BLoB).
    static func draw(into e: UnsafeMutablePointer<Float>, rank: Int, inFeatures: Int, std: [Float], seed: UInt64, key: UInt64) {
        var rng = SplitMix64(seed: seed ^ (key &* 0x9E37_79B9_7F4A_7C15))
        var i = 0
        let count = rank * inFeatures
        let perElement = std.count == count
        while i < count {
            // Box–Muller: two independent standard normals from two uniforms in (0, 1].
            let u1 = Double((rng.next() >> 11) + 1) * 0x1p-53
            let u2 = Double(rng.next() >> 11) * 0x1p-53
            let radius = (-2 * Foundation.log(u1)).squareRoot()
            let angle = 2 * Double.pi * u2
            e[i] = Float(radius * Foundation.cos(angle)) * std[perElement ? i : i / inFeatures]
            if i + 1 < count { e[i + 1] = Float(radius * Foundation.sin(angle)) * std[perElement ? i + 1 : (i + 1) / inFeatures] }
            i += 2
        }
    }
}
