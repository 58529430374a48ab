import Foundation
@testable import Loaders

/// Paths for the dataset tests: the bundled fixtures found from this source file (no SwiftPM resources),
/// and scratch directories for malformed-input files.
enum DatasetFixtures {
    /// <package root>/fixtures/data: this file is <root>/Tests/LoadersTests/DatasetTestSupport.swift.
    static let dataDirectory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fixtures/data", isDirectory: true)

    static func load(_ task: TaskName, _ split: Split) throws -> Dataset {
        try DatasetLoader.load(task: task, split: split, dataDirectory: dataDirectory)
    }

    /// A fresh temporary data directory holding `files` (name → content) under `<dir>/<task>/`.
    static func scratch(_ task: TaskName, _ files: [String: String]) throws -> URL {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("bayeval-dataset-\(UUID().uuidString)", isDirectory: true)
        let taskDir = dir.appendingPathComponent(task.rawValue, isDirectory: true)
        try FileManager.default.createDirectory(at: taskDir, withIntermediateDirectories: true)
        for (name, content) in files {
            try Data(content.utf8).write(to: taskDir.appendingPathComponent(name))
        }
        return dir
    }

    /// Runs `body` expecting a `LoadError` and returns it (nil, recorded as a failure by the caller's
    /// `#require`, when nothing or something else was thrown).
    static func loadError(_ body: () throws -> Void) -> LoadError? {
        do {
            try body()
            return nil
        } catch let e as LoadError {
            return e
        } catch {
            return nil
        }
    }
}

extension Example {
    var mc: MultipleChoiceExample? { if case .multipleChoice(let m) = self { m } else { nil } }
    var cls: ClassificationExample? { if case .classification(let c) = self { c } else { nil } }
}
