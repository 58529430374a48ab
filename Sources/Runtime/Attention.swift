import Foundation

/// Multi-head attention over packed sequences, as a backend's `attention` and `attentionBackward` see it:
/// the one problem scoring, training and curvature passes share. q, k and v are column blocks of one
/// rows × `stride` matrix (a fused projection's output). Sequence i attends first to a context — the
/// shared header's rows in the same matrix (when there is one and i is not the header itself), or a cached
/// prefix's keys and values — and then to its own rows, causally (decoders) or not (encoders). Scoring
/// asks only with each sequence's last (decoders) or first (encoders) token.
public struct AttentionLayout: @unchecked Sendable {
    /// Which rows of each sequence ask: all (one output row per input row), or only the last or first
    /// (one output row per sequence, in sequence order).
    public enum Queries: Sendable { case all, last, first }

    /// Keys and values computed by an earlier pass (a prefix cache), rows × keyValueHeads·d each.
    public struct CachedContext: @unchecked Sendable {
        public let keys: UnsafePointer<Float>
        public let values: UnsafePointer<Float>
        public let rows: Int
    }

    public let sequences: [Range<Int>]
    /// Index into `sequences` of the shared header, which every other sequence attends to first.
    public let header: Int?
    public let causal: Bool
    public let heads: Int
    public let keyValueHeads: Int
    public let headDimension: Int
    public let stride: Int
    public let queryOffset: Int
    public let keyOffset: Int
    public let valueOffset: Int
    public var queries: Queries = .all
    /// A cached prefix every sequence attends to first (instead of a header in the batch).
    public var cached: CachedContext? = nil

    public var queryWidth: Int { heads * headDimension }
    public var keyValueWidth: Int { keyValueHeads * headDimension }

    /// Rows of the header that sequence `i` sees before its own (empty for the header itself).
    public func context(of i: Int) -> Range<Int> {
        guard let header, header != i else { return 0..<0 }
        return sequences[header]
    }

    /// Where sequence i's context keys and values start (head 0), their row stride and their count.
    public func contextKeysValues(
        _ qkv: UnsafePointer<Float>, sequence i: Int
    )
        -> (keys: UnsafePointer<Float>, values: UnsafePointer<Float>, stride: Int, count: Int)
    {
        if let cached { return (cached.keys, cached.values, keyValueWidth, cached.rows) }
        let ctx = context(of: i)
        return (
            qkv + ctx.lowerBound * stride + keyOffset, qkv + ctx.lowerBound * stride + valueOffset, stride, ctx.count
        )
    }

    /// The asking rows of a sequence of n rows: the first one's offset in the sequence and how many.
    public func askingRows(_ n: Int) -> (first: Int, count: Int) {
        switch queries {
        case .all: (0, n)
        case .last: (n - 1, 1)
        case .first: (0, 1)
        }
    }
}
