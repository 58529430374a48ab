import Foundation
import Testing
@testable import Loaders

/// Fixture access for the tokenizer tests: paths relative to this source file, no SwiftPM resources.
enum TokenizerFixtures {
    static let root: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/tokenizers")

    static func path(_ name: String) -> String { root.appendingPathComponent(name).path }

    struct Item: Sendable { let text: String; let pair: String? }

    /// texts.jsonl.zst, parsed once.
    static let items: [Item] = {
        let data = try! Zstd.readMaybeCompressed(path: path("texts.jsonl.zst"))
        var array = Data("[".utf8)
        var first = true
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            if !first { array.append(UInt8(ascii: ",")) }
            array.append(contentsOf: line)
            first = false
        }
        array.append(UInt8(ascii: "]"))
        let rows = try! JSONSerialization.jsonObject(with: array) as! [[String: String]]
        return rows.map { Item(text: $0["text"]!, pair: $0["pair"]) }
    }()

    struct Golden: Sendable { let index: Int; let ids: [Int]; let typeIDs: [Int]? }

    /// `index<TAB>ids[<TAB>type ids]` lines, parsed on bytes (the files hold millions of ids).
    static func golden(_ relative: String) throws -> [Golden] {
        let data = try Zstd.readMaybeCompressed(path: path(relative))
        var out: [Golden] = []
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            var fields: [[Int]] = [[]]
            var number = 0, inNumber = false
            func endNumber() { if inNumber { fields[fields.count - 1].append(number) }; number = 0; inNumber = false }
            for b in raw {
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"):
                    number = number * 10 + Int(b - 48); inNumber = true
                case UInt8(ascii: " "):
                    endNumber()
                case UInt8(ascii: "\t"):
                    endNumber(); fields.append([])
                case UInt8(ascii: "\n"):
                    endNumber()
                    out.append(
                        Golden(
                            index: fields[0][0], ids: fields.count > 1 ? fields[1] : [],
                            typeIDs: fields.count > 2 ? fields[2] : nil))
                    fields = [[]]
                default:
                    break
                }
            }
        }
        return out
    }

    static func loadTokenizer(_ name: String) throws -> TokenizerPipeline {
        try TokenizerLoader.load(directory: path(name))
    }

    /// Compares every golden line; returns (matched, total, first mismatches described).
    static func parity(
        _ tokenizer: any Tokenizer, _ golden: [Golden], addSpecialTokens: Bool
    )
        -> (matched: Int, total: Int, report: [String])
    {
        var matched = 0
        var report: [String] = []
        for g in golden {
            let item = items[g.index]
            let (ids, types) = tokenizer.encodeWithTypes(item.text, pair: item.pair, addSpecialTokens: addSpecialTokens)
            let typesOK = g.typeIDs.map { $0 == types } ?? true
            if ids == g.ids && typesOK {
                matched += 1
            } else if report.count < 5 {
                let pair = item.pair.map { " + " + String(reflecting: $0) } ?? ""
                report.append(
                    "#\(g.index) \(String(reflecting: item.text))\(pair)"
                        + "\n  expected \(g.ids)\(g.typeIDs.map { " types \($0)" } ?? "")"
                        + "\n  actual   \(ids)\(g.typeIDs == nil ? "" : " types \(types)")")
            }
        }
        return (matched, golden.count, report)
    }
}
