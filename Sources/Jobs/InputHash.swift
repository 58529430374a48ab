import Foundation
import Loaders
import Records

/// The content hash of a job's inputs: SHA-256 over the program's version, its arguments and, for every
/// input (a folder counts as its top-level files, as run.json records them), the role, path and SHA-256
/// of the content. A file
/// edited in place, retrained or re-downloaded changes it; a touch or a copy does not.
///
/// Digests are cached by (path, size, modification time) for the life of the process: a plan of hundreds
/// of jobs over one 16 GB model reads that model once.
public final class InputHasher {
    private struct Key: Hashable {
        let path: String
        let size: Int
        let modified: Double
    }
    private var digests: [Key: String] = [:]
    /// The program that runs the jobs ("bayeval 0.9.0"): another version may score differently, so its
    /// results are not taken for this one's, nor resumed into.
    public let program: String

    public init(program: String) { self.program = program }

    public func hash(arguments: [String], inputs: [JobInput]) throws -> String {
        var text = "\(program) job\n" + arguments.joined(separator: "\u{0}") + "\n"
        for input in inputs {
            for file in try files(of: input) {
                text += "\(input.role)\u{0}\(file)\u{0}\(try digest(file))\n"
            }
        }
        return SHA256.hexDigest(Array(text.utf8))
    }

    /// An input's files (see RunRecord.inputFiles). A missing input is an error naming it: a job that
    /// would fail on it should fail when planned.
    func files(of input: JobInput) throws -> [String] {
        guard let files = RunRecord.inputFiles(at: input.path) else {
            throw LoadError(.io, file: input.path, item: input.role, "the job's \(input.role) does not exist")
        }
        return files
    }

    func digest(_ path: String) throws -> String {
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        let key = Key(
            path: path, size: (attributes?[.size] as? Int) ?? -1,
            modified: (attributes?[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0)
        if let known = digests[key] { return known }
        let digest = try SHA256.hexDigest(file: path)
        digests[key] = digest
        return digest
    }
}
