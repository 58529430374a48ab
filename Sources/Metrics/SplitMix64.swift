/// SplitMix64 (Steele, Lea & Flood 2014): a 64-bit state advanced by the golden-ratio increment and
/// passed through a fixed mixer. Chosen because it is tiny, fully specified by the paper, fast, and easy to
/// re-implement in the fixture script so bootstrap draws can be checked value for value.
/// Own copy: Metrics does not depend on Loaders (whose shuffle has one).
public struct SplitMix64: Sendable, Equatable {
    public static let increment: UInt64 = 0x9E37_79B9_7F4A_7C15
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    @inline(__always)
    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    @inline(__always)
    public mutating func next() -> UInt64 {
        state &+= Self.increment
        return Self.mix(state)
    }

    /// Uniform in 0 ..< bound without modulo bias (Lemire 2019: multiply, keep the high word, reject the
    /// few low words below 2^64 mod bound). `bound` must be ≥ 1.
    @inline(__always)
    public mutating func next(below bound: UInt64) -> UInt64 {
        var m = next().multipliedFullWidth(by: bound)
        if m.low < bound {
            let threshold = (0 &- bound) % bound
            while m.low < threshold { m = next().multipliedFullWidth(by: bound) }
        }
        return m.high
    }

    /// The generator for stream `index` of `seed`: seeded with the (index + 1)-th output of
    /// SplitMix64(seed), computed directly. Streams depend only on (seed, index), so work split across
    /// threads draws the same numbers however it is split.
    public static func stream(_ index: Int, of seed: UInt64) -> SplitMix64 {
        SplitMix64(seed: mix(seed &+ UInt64(index + 1) &* increment))
    }
}
