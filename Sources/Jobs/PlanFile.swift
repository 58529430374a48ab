import Foundation
import Loaders
import Records

/// A plan: JSON lines, one `PlannedJob` per line, line i (from 0) the job of array index i. Written by
/// `bayeval plan`, read by `run-job`, `plan --status` and `plan --collect`; every line is checked when
/// read, so a plan edited by hand into something that is not a job is refused naming its line.
public enum PlanFile {
    /// The commands a job may run: the ones a tree evaluation makes.
    public static let commands: Set<String> = ["evaluate", "tfb", "calibrate", "laplace"]

    public static func write(_ jobs: [PlannedJob], to path: String) throws {
        try refuseSharedDirectories(jobs, file: path)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        var data = Data()
        for job in jobs {
            data.append(try encoder.encode(job))
            data.append(0x0A)
        }
        try AtomicFile.write(data, to: path)
    }

    public static func read(_ path: String) throws -> [PlannedJob] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw LoadError(.io, file: path, item: "", "cannot read the plan: \(error.localizedDescription)")
        }
        var jobs: [PlannedJob] = []
        for (n, line) in data.split(separator: 0x0A, omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) {
            let item = "line \(n + 1)"
            let job: PlannedJob
            do { job = try JSONDecoder().decode(PlannedJob.self, from: Data(line)) } catch let e as DecodingError {
                throw LoadError(.malformedRow, file: path, item: item, "not a job: \(describe(e))")
            } catch {
                throw LoadError(.malformedRow, file: path, item: item, "not a job: \(error)")
            }
            try check(job, position: jobs.count, file: path, item: item)
            jobs.append(job)
        }
        guard !jobs.isEmpty else { throw LoadError(.malformedRow, file: path, item: "", "the plan has no jobs") }
        try refuseSharedDirectories(jobs, file: path)
        return jobs
    }

    /// What every job must hold for `run-job` to run it safely.
    static func check(_ job: PlannedJob, position: Int, file: String, item: String) throws {
        func bad(_ message: String) -> LoadError { LoadError(.invalidValue, file: file, item: item, message) }
        guard job.index == position else {
            throw bad("index \(job.index) on the job of array index \(position) (lines were reordered or removed)")
        }
        guard !job.directory.isEmpty, !job.outputRoot.isEmpty else { throw bad("the job names no output folder") }
        guard job.inputHash.count == 64, job.inputHash.allSatisfy(\.isHexDigit) else {
            throw bad("inputHash '\(job.inputHash)' is not a SHA-256 digest")
        }
        if let arguments = job.arguments {
            guard let command = arguments.first, commands.contains(command) else {
                throw bad(
                    "the command '\(arguments.first ?? "")' is not one a tree job runs "
                        + "(\(commands.sorted().joined(separator: ", ")))")
            }
            // The job's files must be where the folder says: status, resume and collect read them there.
            for (option, name) in [("--output", PlannedJob.recordName), ("--predictions", PlannedJob.predictionsName)] {
                guard let i = arguments.firstIndex(of: option), i + 1 < arguments.count,
                    arguments[i + 1] == job.file(name)
                else { throw bad("\(option) is not \(job.file(name)), the job's folder") }
            }
        } else if job.skipReason == nil {
            throw bad("the job has neither arguments nor a reason it is skipped")
        }
    }

    /// Two jobs writing one folder would overwrite each other's results.
    static func refuseSharedDirectories(_ jobs: [PlannedJob], file: String) throws {
        var owner: [String: Int] = [:]
        for job in jobs {
            let key = URL(fileURLWithPath: job.directory, relativeTo: URL(fileURLWithPath: job.workingDirectory))
                .standardizedFileURL.path
            if let first = owner[key] {
                throw UsageError(
                    file: file, item: "jobs \(first) and \(job.index)",
                    "both write \(job.directory); each job needs its own output folder")
            }
            owner[key] = job.index
        }
    }

    static func describe(_ e: DecodingError) -> String {
        let path = e.codingPathDescription
        switch e {
        case .keyNotFound: return "missing '\(path)'"
        case .typeMismatch(_, let c), .valueNotFound(_, let c), .dataCorrupted(let c):
            return (path.isEmpty ? "" : "'\(path)': ") + c.debugDescription
        @unknown default: return "\(e)"
        }
    }
}
