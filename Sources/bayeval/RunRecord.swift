import Foundation
import Loaders
import Metrics

/// `run.json`: everything needed to know what a run measured and on exactly which inputs.
struct RunRecord: Encodable {
    struct InputFile: Encodable {
        let role: String
        let path: String
        let bytes: Int
        let sha256: String
    }

    struct Timings: Encodable {
        var loadSeconds = 0.0
        var prepareSeconds = 0.0
        var scoreSeconds = 0.0
        var totalSeconds = 0.0
    }

    struct Throughput: Encodable {
        var promptTokens = 0
        var computedTokens = 0
        var promptTokensPerSecond = 0.0
    }

    let command: String
    let bayevalVersion = Bayeval.configuration.version
    let createdAt = ISO8601DateFormatter().string(from: Date())
    var configuration: [String: String]
    var method: String
    var metrics: MetricReport
    var intervals: [BootstrapInterval]
    var inputs: [InputFile]
    var timings: Timings
    var throughput: Throughput
    var resumedExamples: Int
    var warnings: [String]
    var platform: [String: String]

    /// SHA-256 of each file, or of every regular file inside a directory.
    static func hashInputs(_ roles: [(String, String)]) throws -> [InputFile] {
        var out: [InputFile] = []
        let fm = FileManager.default
        for (role, path) in roles {
            var isDirectory: ObjCBool = false
            guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else { continue }
            let files = isDirectory.boolValue
                ? ((try? fm.contentsOfDirectory(atPath: path)) ?? []).sorted().map { (path as NSString).appendingPathComponent($0) }
                    .filter { var d: ObjCBool = false; return fm.fileExists(atPath: $0, isDirectory: &d) && !d.boolValue }
                : [path]
            for f in files {
                let size = (try? fm.attributesOfItem(atPath: f)[.size] as? Int) ?? 0
                out.append(InputFile(role: role, path: f, bytes: size ?? 0, sha256: try SHA256.hexDigest(file: f)))
            }
        }
        return out
    }

    func write(to path: String) throws {
        let e = JSONEncoder()
        e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        let tmp = path + ".partial"
        do {
            try e.encode(self).write(to: URL(fileURLWithPath: tmp))
            if FileManager.default.fileExists(atPath: path) { try FileManager.default.removeItem(atPath: path) }
            try FileManager.default.moveItem(atPath: tmp, toPath: path)
        } catch {
            throw LoadError(.io, file: path, item: "", "cannot write the run record: \(error.localizedDescription)")
        }
    }
}
