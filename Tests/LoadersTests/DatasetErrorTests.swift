import Foundation
import Testing
@testable import Loaders

/// Malformed inputs written to temporary data directories: each must be a `LoadError` naming the file, and
/// for row errors the line and the field.
@Suite struct DatasetErrorTests {
    static let goodARC =
        #"{"id":"q1","question":"Why?","choices":{"text":["a","b","c"],"label":["A","B","C"]},"answerKey":"B"}"#

    /// Loads ARC-Challenge validation from a scratch directory holding `content` as the plain file.
    func arcError(_ content: String) throws -> LoadError {
        let dir = try DatasetFixtures.scratch(.arcChallenge, ["ARC-Challenge-validation.jsonl": content])
        defer { try? FileManager.default.removeItem(at: dir) }
        return try #require(
            DatasetFixtures.loadError {
                _ = try DatasetLoader.load(task: .arcChallenge, split: .validation, dataDirectory: dir)
            })
    }

    func expectRowError(_ e: LoadError, line: Int, field: String, file: String, kind: LoadError.Kind = .malformedRow) {
        #expect(e.kind == kind)
        #expect(e.file.hasSuffix("/" + file))
        #expect(e.item == "line \(line)")
        #expect(e.message.contains("line \(line)"), "\(e.message)")
        #expect(e.message.contains("'\(field)'"), "\(e.message)")
    }

    @Test func badJSONLine() throws {
        let e = try arcError(Self.goodARC + "\n{\"id\": \"q2\", \"question\": \n")
        expectRowError(e, line: 2, field: "(row)", file: "ARC-Challenge-validation.jsonl")
        #expect(e.message.contains("not valid JSON"))
    }

    @Test func missingAnswerKey() throws {
        let row = #"{"id":"q9","question":"Why?","choices":{"text":["a","b"],"label":["A","B"]}}"#
        let e = try arcError(Self.goodARC + "\n\n" + row + "\n")  // a blank line still counts
        expectRowError(e, line: 3, field: "answerKey", file: "ARC-Challenge-validation.jsonl")
        #expect(e.message.contains("id q9") && e.message.contains("missing"))
    }

    @Test func answerKeyNotAmongLabels() throws {
        let row =
            #"{"id":"q3","question":"Why?","choices":{"text":["a","b","c","d"],"label":["A","B","C","D"]},"#
            + #""answerKey":"E"}"#
        let e = try arcError(row)
        expectRowError(e, line: 1, field: "answerKey", file: "ARC-Challenge-validation.jsonl")
        #expect(e.message.contains("\"E\" is not one of the choice labels [A, B, C, D]"))
    }

    @Test func numericLabelsMustBePositions() throws {
        let row =
            #"{"id":"q4","question":"Why?","choices":{"text":["a","b","c"],"label":["1","3","2"]},"answerKey":"2"}"#
        expectRowError(
            try arcError(Self.goodARC + "\n" + row), line: 2, field: "choices", file: "ARC-Challenge-validation.jsonl")
    }

    @Test func emptyChoicesAndWrongType() throws {
        let empty = #"{"id":"q5","question":"Why?","choices":{"text":[],"label":[]},"answerKey":"A"}"#
        let e = try arcError(empty)
        expectRowError(e, line: 1, field: "choices", file: "ARC-Challenge-validation.jsonl")
        #expect(e.message.contains("no choices"))
        let wrongType = #"{"id":"q6","question":42,"choices":{"text":["a","b"],"label":["A","B"]},"answerKey":"A"}"#
        let t = try arcError(wrongType)
        expectRowError(t, line: 1, field: "question", file: "ARC-Challenge-validation.jsonl")
        #expect(t.message.contains("expected a string"))
    }

    @Test func tsvRowWithWrongColumnCount() throws {
        let dir = try DatasetFixtures.scratch(.sst2, ["dev.tsv": "sentence\tlabel\ngood film\t1\nno label here\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try #require(
            DatasetFixtures.loadError {
                _ = try DatasetLoader.load(task: .sst2, split: .validation, dataDirectory: dir)
            })
        expectRowError(e, line: 3, field: "columns", file: "dev.tsv")
        #expect(e.message.contains("expected 2") && e.message.contains("found 1"))
    }

    @Test func labelOutOfRange() throws {
        let dir = try DatasetFixtures.scratch(
            .cola,
            [
                "in_domain_dev.tsv": "gj04\t1\t\tFine.\n",
                "out_of_domain_dev.tsv": "clc95\t1\t\tFine.\nclc95\t2\t*\tBad.",
            ])
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try #require(
            DatasetFixtures.loadError {
                _ = try DatasetLoader.load(task: .cola, split: .validation, dataDirectory: dir)
            })
        expectRowError(e, line: 2, field: "label", file: "out_of_domain_dev.tsv")
        #expect(e.message.contains("out of range"))

        let rte = try DatasetFixtures.scratch(
            .rte,
            [
                "validation.jsonl": #"{"sentence1":"a","sentence2":"b","label":-1,"idx":7}"# + "\n"
            ])
        defer { try? FileManager.default.removeItem(at: rte) }
        let r = try #require(
            DatasetFixtures.loadError {
                _ = try DatasetLoader.load(task: .rte, split: .validation, dataDirectory: rte)
            })
        expectRowError(r, line: 1, field: "label", file: "validation.jsonl")
        #expect(r.message.contains("id 7"))
    }

    @Test func wrongHeader() throws {
        let dir = try DatasetFixtures.scratch(.mrpc, ["dev.tsv": "1\t1\t2\ta\tb\n"])
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try #require(
            DatasetFixtures.loadError {
                _ = try DatasetLoader.load(task: .mrpc, split: .validation, dataDirectory: dir)
            })
        expectRowError(e, line: 1, field: "header", file: "dev.tsv", kind: .invalidHeader)
    }

    @Test func missingFile() throws {
        let dir = try DatasetFixtures.scratch(.openBookQA, ["train.jsonl": ""])
        defer { try? FileManager.default.removeItem(at: dir) }
        let e = try #require(
            DatasetFixtures.loadError {
                _ = try DatasetLoader.load(task: .openBookQA, split: .validation, dataDirectory: dir)
            })
        #expect(e.kind == .io)
        #expect(e.file.hasSuffix("/obqa/dev.jsonl"))
        #expect(e.message.contains("dev.jsonl.zst"))
    }

    @Test func emptySplit() throws {
        for content in ["", "\n\n", "sentence\tlabel\n"] {
            let dir = try DatasetFixtures.scratch(.sst2, ["dev.tsv": content])
            defer { try? FileManager.default.removeItem(at: dir) }
            let e = try #require(
                DatasetFixtures.loadError {
                    _ = try DatasetLoader.load(task: .sst2, split: .validation, dataDirectory: dir)
                })
            #expect(e.kind == .truncated && e.file.hasSuffix("/dev.tsv") && e.message.contains("no examples"))
        }
    }

    @Test func plainAndCompressedUserCopies() throws {
        // Plain file, CRLF endings, a BOM and no final newline: a user's own copy.
        let mrpc = "\u{FEFF}Quality\t#1 ID\t#2 ID\t#1 String\t#2 String\r\n0\t11\t12\tA cat.\tA dog."
        let dir = try DatasetFixtures.scratch(.mrpc, ["dev.tsv": mrpc])
        defer { try? FileManager.default.removeItem(at: dir) }
        let d = try DatasetLoader.load(task: .mrpc, split: .validation, dataDirectory: dir)
        #expect(
            d.examples == [
                .classification(
                    ClassificationExample(
                        id: "11-12", text: "A cat.", pair: "A dog.", label: 0,
                        labelNames: ["not_equivalent", "equivalent"]))
            ])

        // Compressed only: read through zstd. With both present the plain file wins.
        let bool = #"{"question":"q","passage":"p","answer":true}"# + "\n"
        let z = try DatasetFixtures.scratch(.boolQ, [:])
        defer { try? FileManager.default.removeItem(at: z) }
        let zPath = z.appendingPathComponent("boolq/dev.jsonl.zst")
        try Zstd.compress(Data(bool.utf8)).write(to: zPath)
        let fromZst = try DatasetLoader.load(task: .boolQ, split: .validation, dataDirectory: z)
        #expect(fromZst.files == [zPath.path] && fromZst.examples.first?.label == 1)
        try Data(#"{"question":"q","passage":"p","answer":"false"}"#.utf8).write(
            to: z.appendingPathComponent("boolq/dev.jsonl"))
        let fromPlain = try DatasetLoader.load(task: .boolQ, split: .validation, dataDirectory: z)
        #expect(fromPlain.files.first?.hasSuffix("dev.jsonl") == true && fromPlain.examples.first?.label == 0)
    }
}
