import Foundation
import Loaders
import Metrics
import Records
import Testing

/// The run record reads back exactly what was written, and refuses what it cannot read, naming the item.
@Suite struct RunRecordTests {
    func record() throws -> RunRecord {
        let p = try Predictions(probabilities: [0.9, 0.1, 0.3, 0.7, 0.6, 0.4], labels: [0, 1, 1], classCount: 2)
        let report = MetricReport(p, binning: try Binning(count: 15))
        let interval = try Bootstrap(resamples: 20, level: 0.95, seed: 0).interval(
            of: .ece, for: p, binning: try Binning(count: 15), threads: 1)
        let search = TFBSearchRecord(
            criterion: "nll", tolerance: 0.01, rule: "largest-accepted", anchors: 6,
            steps: [.init(sigma: 0.008, value: 0.004, accepted: true)], sigma: 0.008)
        return RunRecord(
            command: .tfb, bayevalVersion: "test", configuration: ["task": "obqa"],
            results: [
                MethodResult(method: Method(.lora, label: "MAP"), metrics: report),
                MethodResult(
                    method: Method(.tfb, samples: 10, sigma: 0.008, label: "TFB"), metrics: report,
                    intervals: [interval]),
            ],
            tfbSearch: search, inputs: [], timings: RunRecord.Timings(),
            throughput: .init(promptTokens: 10, computedTokens: 8, seconds: 2), platform: ["backend": "cpu"])
    }

    func temporary(_ name: String) -> String { NSTemporaryDirectory() + "bayeval-record-\(UUID().uuidString)-\(name)" }

    @Test func roundTrip() throws {
        let path = temporary("run.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        let written = try record()
        try written.write(to: path)
        #expect(try RunRecord.read(from: path) == written)
        #expect(!FileManager.default.fileExists(atPath: path + ".partial"))
    }

    @Test func otherSchemasAndMalformedRecordsAreRefused() throws {
        let path = temporary("run.json")
        defer { try? FileManager.default.removeItem(atPath: path) }
        try record().write(to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        try text.replacingOccurrences(of: "\"schemaVersion\" : 1", with: "\"schemaVersion\" : 99")
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try RunRecord.read(from: path) } throws: { ($0 as? LoadError)?.item == "schemaVersion" }
        try text.replacingOccurrences(of: "\"kind\" : \"tfb\"", with: "\"kind\" : \"dropout\"")
            .write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try RunRecord.read(from: path) } throws: {
            guard let e = $0 as? LoadError else { return false }
            return e.kind == .invalidValue && e.item.contains("results") && e.file == path
        }
        try "{}".write(toFile: path, atomically: true, encoding: .utf8)
        #expect { try RunRecord.read(from: path) } throws: {
            ($0 as? LoadError)?.message.contains("not a bayeval run record") == true
        }
    }
}
