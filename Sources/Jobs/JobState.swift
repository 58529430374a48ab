import Foundation
import Loaders
import Records

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// job.json: which job made a folder's results. A folder is a job's only when both the arguments and
/// the input hash match; anything else in it is another job's and is never resumed into.
public struct JobStamp: Codable, Sendable, Equatable {
    public var arguments: [String]
    public var inputHash: String
}

/// status.json: the last attempt at a job, written when it starts and when it ends, so `plan --status`
/// can tell running from failed without a scheduler's accounting.
public struct JobAttempt: Codable, Sendable, Equatable {
    public enum Outcome: String, Codable, Sendable { case running, failed, done }
    public var state: Outcome
    public var host: String
    public var pid: Int32
    /// ARRAYJOB_TASK (or the job id) under Slurm.
    public var slurmJob: String?
    public var started: String
    public var finished: String?
    public var exitStatus: Int32?
    public var message: String?
    /// The planned job's input hash: an attempt refused before it started (its inputs changed) leaves no
    /// job.json, and is still this job's failure.
    public var inputHash: String?
}

/// Where a job stands, as read from its folder.
public enum JobState: Sendable {
    case done(RunRecord)
    case skipped(String)
    case running(JobAttempt)
    case failed(String)
    /// Not started, or its folder holds another job's results (other arguments or inputs).
    case pending

    public var name: String {
        switch self {
        case .done: "done"
        case .skipped: "skipped"
        case .running: "running"
        case .failed: "failed"
        case .pending: "pending"
        }
    }
}

extension PlannedJob {
    public var stamp: JobStamp? { arguments.map { JobStamp(arguments: $0, inputHash: inputHash) } }

    /// Whether job.json names this very job (same arguments, same input hash).
    public var madeByThisJob: Bool {
        guard let stamp, let data = FileManager.default.contents(atPath: jobFile),
            let recorded = try? JSONDecoder().decode(JobStamp.self, from: data)
        else { return false }
        return recorded == stamp
    }

    /// The finished run of this job, if its folder holds one.
    public func finishedRecord() -> RunRecord? { madeByThisJob ? try? RunRecord.read(from: runRecord) : nil }

    public var lastAttempt: JobAttempt? {
        FileManager.default.contents(atPath: statusFile).flatMap {
            try? JSONDecoder().decode(JobAttempt.self, from: $0)
        }
    }

    public func state() -> JobState {
        if let skipReason, arguments == nil { return .skipped(skipReason) }
        if let record = finishedRecord() { return .done(record) }
        guard let attempt = lastAttempt, madeByThisJob || attempt.inputHash == inputHash else { return .pending }
        switch attempt.state {
        case .running:
            return attempt.isAlive
                ? .running(attempt)
                : .failed("stopped while running (killed, out of memory or its node lost): \(JobLog.tail(of: log))")
        case .failed: return .failed(attempt.message ?? JobLog.tail(of: log))
        case .done: return .failed("finished, but its run.json is missing or unreadable")
        }
    }
}

extension JobAttempt {
    public static var currentHost: String { ProcessInfo.processInfo.hostName }

    /// On this host: whether its process is still there. Elsewhere: whether Slurm still lists its job
    /// (`squeue`); without either, it is taken to be running.
    var isAlive: Bool {
        if host == Self.currentHost { return kill(pid, 0) == 0 || errno == EPERM }
        guard let slurmJob else { return true }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["squeue", "--noheader", "--jobs", slurmJob, "--format", "%T"]
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = FileHandle.nullDevice
        guard (try? p.run()) != nil else { return true }
        let out = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        // No squeue here (env's 127): it cannot be told, so it is not called failed (and resubmitted twice).
        if p.terminationStatus == 127 { return true }
        // squeue refuses a job id it no longer knows: the job is gone.
        guard p.terminationStatus == 0 else { return false }
        let text = String(decoding: out, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return ["RUNNING", "PENDING", "CONFIGURING", "COMPLETING", "SUSPENDED", "STOPPED", "REQUEUE_HOLD", "REQUEUED"]
            .contains(text)
    }
}

/// A job's log.txt.
public enum JobLog {
    /// The error a failed command printed (its last `Error:` line), else the log's last line.
    public static func tail(of log: String) -> String {
        let lines = ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        return lines.last { $0.hasPrefix("Error:") || $0.hasPrefix("error:") } ?? lines.last ?? "(no output)"
    }
}
