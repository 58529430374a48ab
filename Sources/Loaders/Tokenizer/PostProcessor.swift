/// The last encoding stage: adds the special tokens around one sequence or a pair, with token type ids.
indirect enum PostProcessor: Sendable {
    enum Piece: Sendable, Equatable {
        case sequenceA(typeID: Int)
        case sequenceB(typeID: Int)
        case special(ids: [Int], typeID: Int)
    }

    case template(single: [Piece], pair: [Piece])
    /// <s> A </s> and <s> A </s> </s> B </s>, all type 0.
    case roberta(cls: Int, sep: Int)
    /// [CLS] A [SEP] and [CLS] A [SEP] B [SEP], B and its [SEP] type 1.
    case bert(cls: Int, sep: Int)
    /// Byte-level offset trimming: no effect on ids.
    case byteLevel
    case sequence([PostProcessor])

    /// Without special tokens the sequences are only concatenated (types 0 for A, 1 for B).
    func process(_ a: [Int], _ b: [Int]?, addSpecialTokens: Bool) -> (ids: [Int], typeIDs: [Int]) {
        guard addSpecialTokens, let pieces = self.pieces(pair: b != nil) else {
            return (a + (b ?? []), [Int](repeating: 0, count: a.count) + [Int](repeating: 1, count: b?.count ?? 0))
        }
        var ids: [Int] = []
        var types: [Int] = []
        ids.reserveCapacity(a.count + (b?.count ?? 0) + 4)
        for p in pieces {
            switch p {
            case .sequenceA(let t):
                ids += a; types += [Int](repeating: t, count: a.count)
            case .sequenceB(let t):
                let s = b ?? []
                ids += s; types += [Int](repeating: t, count: s.count)
            case let .special(list, t):
                ids += list; types += [Int](repeating: t, count: list.count)
            }
        }
        return (ids, types)
    }

    /// The layout as template pieces; nil when the processor adds nothing (ByteLevel).
    private func pieces(pair: Bool) -> [Piece]? {
        switch self {
        case let .template(single, pairPieces):
            return pair ? pairPieces : single
        case let .roberta(cls, sep):
            return pair
                ? [
                    .special(ids: [cls], typeID: 0), .sequenceA(typeID: 0), .special(ids: [sep, sep], typeID: 0),
                    .sequenceB(typeID: 0), .special(ids: [sep], typeID: 0),
                ]
                : [.special(ids: [cls], typeID: 0), .sequenceA(typeID: 0), .special(ids: [sep], typeID: 0)]
        case let .bert(cls, sep):
            return pair
                ? [
                    .special(ids: [cls], typeID: 0), .sequenceA(typeID: 0), .special(ids: [sep], typeID: 0),
                    .sequenceB(typeID: 1), .special(ids: [sep], typeID: 1),
                ]
                : [.special(ids: [cls], typeID: 0), .sequenceA(typeID: 0), .special(ids: [sep], typeID: 0)]
        case .byteLevel:
            return nil
        case .sequence(let list):
            // Only one member of a sequence adds tokens in practice (ByteLevel + Template); use the last that does.
            return list.reversed().lazy.compactMap { $0.pieces(pair: pair) }.first
        }
    }
}
