import Foundation
import Loaders
import Metrics
import Records
import Testing

/// Finding adapters in a tree laid out as bayesian-peft publishes its checkpoints, and reading task, seed
/// and training method from the path; the summary's grouping over seeds and its CSV.
@Suite struct CheckpointTreeTests {
    let root = NSTemporaryDirectory() + "bayeval-tree-\(UUID().uuidString)"

    func adapter(_ relative: String) throws {
        let dir = root + "/" + relative
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try Data("{}".utf8).write(to: URL(fileURLWithPath: dir + "/adapter_config.json"))
    }

    @Test func bayesianPEFTLayout() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        for (method, dataset, seed) in [
            ("map", "obqa", 1), ("mle", "ARC-Challenge", 2), ("blob", "winogrande_s", 3), ("map", "ARC-Easy", 1),
        ] {
            try adapter("\(method)/llama/\(dataset)/run-seed\(seed)")
        }
        try adapter("map/llama/unknown-data/seed_7")
        // Not searched inside an adapter; hidden folders skipped.
        try adapter("map/llama/obqa/run-seed1/nested")
        try adapter(".cache/map/obqa/x")
        let found = try CheckpointTree.discover(root: root)
        #expect(found.map(\.relativePath).count == 5)
        let byPath = Dictionary(uniqueKeysWithValues: found.map { ($0.relativePath, $0) })
        #expect(byPath["map/llama/obqa/run-seed1"]?.task == .openBookQA)
        #expect(byPath["mle/llama/ARC-Challenge/run-seed2"]?.task == .arcChallenge)
        #expect(byPath["mle/llama/ARC-Challenge/run-seed2"]?.training == "mle")
        #expect(byPath["blob/llama/winogrande_s/run-seed3"]?.task == .winoGrande)
        #expect(byPath["blob/llama/winogrande_s/run-seed3"]?.seed == 3)
        #expect(byPath["map/llama/ARC-Easy/run-seed1"]?.task == .arcEasy)
        let unknown = try #require(byPath["map/llama/unknown-data/seed_7"])
        #expect(unknown.task == nil && unknown.seed == 7 && unknown.taskSource == nil)
        let fallback = try CheckpointTree.discover(root: root, fallbackTask: .sst2)
        #expect(fallback.first { $0.relativePath == "map/llama/unknown-data/seed_7" }?.taskSource == "fallback")
    }

    @Test func refusesATreeWithoutAdapters() throws {
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createDirectory(atPath: root + "/a/b", withIntermediateDirectories: true)
        #expect {
            try CheckpointTree.discover(root: root)
        } throws: { error in
            guard let e = error as? LoadError else { return false }
            return e.file == root && e.message.contains("no adapter")
        }
    }

    @Test func groupsOverSeedsAndCSV() throws {
        let p = try Predictions(probabilities: [0.9, 0.1, 0.3, 0.7], labels: [0, 0], classCount: 2)
        let m = MetricReport(p)
        let runs =
            [1, 2, 3].map { (seed: Int) in
                TreeRun(
                    checkpoint: "map/sst2/seed\(seed)", model: "m", task: "sst2", split: "test", seed: seed,
                    training: "map",
                    method: "tfb", label: "TFB, σ=\(seed)", status: "done", runRecord: "x", metrics: m)
            } + [
                TreeRun(
                    checkpoint: "map/sst2/seed4", model: "m", task: "sst2", split: "test", seed: 4, training: "map",
                    method: "tfb", label: "TFB",
                    status: "failed", runRecord: "y", message: "exit \"1\", see log")
            ]
        let groups = TreeSummary.groups(runs)
        // Labels differ (they carry σ); the method groups them, failed runs stay out.
        #expect(groups.count == 1 && groups[0].runs == 3)
        #expect(groups[0].statistics[.accuracy]?.mean == 0.5 && groups[0].statistics[.accuracy]?.std == 0)
        let s = TreeSummary.summarise([1, 2, 4])
        #expect(abs(s.mean - 7.0 / 3) < 1e-15 && abs(s.std! - (7.0 / 3).squareRoot()) < 1e-12)
        #expect(TreeSummary.summarise([2]).std == nil)
        let other = TreeRun(
            checkpoint: "x", model: "other", task: "sst2", split: "test", seed: 1, training: "map", method: "tfb",
            label: "TFB", status: "done", runRecord: "z", metrics: m)
        #expect(TreeSummary.groups(runs + [other]).count == 2, "another model is another group")
        let csv = TreeSummary.csv(runs).split(separator: "\n")
        #expect(csv.count == 5, "\(csv)")
        #expect(csv[1].contains("\"TFB, σ=1\""), "\(csv)")
        #expect(csv[4].hasSuffix("\"exit \"\"1\"\", see log\""))
    }
}
