import Foundation

/// SplitMix64 (Steele, Lea & Flood 2014; the constants of Vigna's reference `splitmix64.c`): a 64-bit
/// generator defined only by wrapping integer arithmetic, so the same seed gives the same stream on every
/// platform and Swift version — unlike `SystemRandomNumberGenerator` (not seedable) or `Hasher` (seeded
/// per process), and unlike `Array.shuffle(using:)`, whose use of the generator is not a documented contract.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// The generator for stream `index` of `seed`, seeded with the (index + 1)-th output of SplitMix64(seed):
    /// a draw keyed by (seed, index) alone, so it does not depend on how work is batched or split.
    public static func stream(_ index: Int, of seed: UInt64) -> SplitMix64 {
        var skip = SplitMix64(seed: seed &+ UInt64(truncatingIfNeeded: index) &* 0x9E37_79B9_7F4A_7C15)
        return SplitMix64(seed: skip.next())
    }

    /// A uniform integer in 0..<bound (bound > 0) by rejection sampling: draws below the largest multiple of
    /// `bound` are accepted, so there is no modulo bias and the rule is simple enough to re-implement
    /// elsewhere (e.g. in a Python script that must pick the same anchors).
    public mutating func next(below bound: UInt64) -> UInt64 {
        precondition(bound > 0, "bound must be positive")
        let limit = UInt64.max - (UInt64.max % bound)  // accept x < limit; limit is a multiple of bound
        while true {
            let x = next()
            if x < limit { return x % bound }
        }
    }
}

extension SplitMix64 {
    /// Uniform in [0, 1): the top 53 bits of one draw.
    public mutating func nextUniform() -> Double { Double(next() >> 11) / Double(1 << 53) }

    /// Standard normal by Box–Muller from two uniform draws, the cosine branch only (one value per two
    /// draws), so a script can reproduce it value for value.
    public mutating func nextGaussian() -> Double {
        let u = max(nextUniform(), 1e-300), v = nextUniform()
        return (-2 * log(u)).squareRoot() * cos(2 * Double.pi * v)
    }
}

/// Seeded Fisher–Yates shuffle: for i from n-1 down to 1, swap element i with element j = next(below: i+1).
public enum SeededShuffle {
    public static func shuffled<T>(_ items: [T], seed: UInt64) -> [T] {
        var out = items
        guard out.count > 1 else { return out }
        var rng = SplitMix64(seed: seed)
        for i in stride(from: out.count - 1, to: 0, by: -1) {
            let j = Int(rng.next(below: UInt64(i + 1)))
            out.swapAt(i, j)
        }
        return out
    }
}
