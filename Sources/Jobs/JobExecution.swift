import Foundation
import Loaders
import Records

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The child a SIGTERM or SIGINT to this process is passed on to (0: none); read in the signal handler.
nonisolated(unsafe) private var childToStop: pid_t = 0

/// Runs one planned job as a child bayeval process, the same way for `evaluate TREE` (one job after
/// another) and for `run-job` (one array task): skip what this job already finished, continue what it
/// left interrupted, clear what another job left, stamp the folder, record the attempt, run.
public struct JobExecution {
    public enum Outcome {
        case skipped(String)
        case doneEarlier(RunRecord)
        case done(RunRecord, seconds: Double)
        case failed(status: Int32, message: String)
    }

    /// The bayeval binary the children run.
    public let executable: URL
    /// Where the attempt says it runs (ARRAYJOB_TASK), from Slurm's environment.
    public let slurmJob: String?

    public init(
        executable: URL = Bundle.main.executableURL ?? URL(fileURLWithPath: "/proc/self/exe"),
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) {
        self.executable = executable
        if let array = environment["SLURM_ARRAY_JOB_ID"], let task = environment["SLURM_ARRAY_TASK_ID"] {
            slurmJob = "\(array)_\(task)"
        } else {
            slurmJob = environment["SLURM_JOB_ID"]
        }
    }

    /// `notice` hears what happens before the command starts ("made with other settings before", …).
    public func run(_ job: PlannedJob, notice: (String) -> Void = { _ in }) throws -> Outcome {
        guard let arguments = job.arguments, let stamp = job.stamp else { return .skipped(job.skipReason ?? "") }
        let fm = FileManager.default
        let previous = fm.currentDirectoryPath
        guard fm.changeCurrentDirectoryPath(job.workingDirectory) else {
            throw UsageError(
                file: job.workingDirectory, item: "job \(job.index)", "the plan's working folder is not there")
        }
        defer { _ = fm.changeCurrentDirectoryPath(previous) }
        if let record = job.finishedRecord() { return .doneEarlier(record) }
        try makeFolder(job)
        let lock = try Self.lock(job)
        defer { close(lock) }
        // It may have finished while this one waited in the queue.
        if let record = job.finishedRecord() { return .doneEarlier(record) }

        // An interrupted run of this same job continues from its predictions; anything else in the
        // folder (another --limit, model, method setting or input) is removed, never mixed in.
        let resumes = job.resumes && job.madeByThisJob && fm.fileExists(atPath: job.predictions)
        if !resumes {
            if fm.fileExists(atPath: job.runRecord) { notice("made with other settings or inputs before; run again") }
            for stale in [job.runRecord, job.predictions, job.statusFile] { try? fm.removeItem(atPath: stale) }
        }
        try AtomicFile.write(try Self.encoder.encode(stamp), to: job.jobFile)
        var attempt = newAttempt(job)
        try write(attempt, job)

        let startTime = Date()
        let (status, signalled) = try spawn(arguments + (resumes ? ["--resume"] : []), log: job.log, append: resumes)
        attempt.finished = Self.timestamp()
        attempt.exitStatus = status
        if !signalled, status == 0, let record = try? RunRecord.read(from: job.runRecord) {
            attempt.state = .done
            try write(attempt, job)
            return .done(record, seconds: Date().timeIntervalSince(startTime))
        }
        attempt.state = .failed
        attempt.message =
            signalled
            ? "terminated by signal \(status) (cancelled, preempted or out of time); rerun it to continue"
            : "exit status \(status): \(JobLog.tail(of: job.log))"
        try write(attempt, job)
        return .failed(status: status, message: attempt.message!)
    }

    /// Records, for `plan --status`, a job refused before it started (its inputs changed since the plan):
    /// a failure with `message`, not a job still pending. Its results, if any, are left as they are.
    public func recordRefusal(_ job: PlannedJob, message: String) throws {
        try makeFolder(job)
        var attempt = newAttempt(job)
        attempt.state = .failed
        attempt.finished = attempt.started
        attempt.message = message
        try write(attempt, job)
    }

    func newAttempt(_ job: PlannedJob) -> JobAttempt {
        JobAttempt(
            state: .running, host: JobAttempt.currentHost, pid: getpid(), slurmJob: slurmJob,
            started: Self.timestamp(), inputHash: job.inputHash)
    }

    func makeFolder(_ job: PlannedJob) throws {
        do { try FileManager.default.createDirectory(atPath: job.directory, withIntermediateDirectories: true) } catch {
            throw WriteError(file: job.directory, item: "job \(job.index)", "cannot create the job's folder: \(error)")
        }
    }

    /// The job's lock, held until the descriptor is closed (also when this process dies). A second run of
    /// the same job (resubmitted while the first still runs) is refused instead of sharing the folder.
    static func lock(_ job: PlannedJob) throws -> Int32 {
        let fd = open(job.lockFile, O_CREAT | O_RDWR, 0o644)
        guard fd >= 0 else {
            throw WriteError(file: job.lockFile, item: "job \(job.index)", "cannot open the job's lock file")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw UsageError(
                file: job.directory, item: "job \(job.index)",
                "another run of this job holds its folder (\(PlannedJob.lockName)); not run twice at once")
        }
        return fd
    }

    func write(_ attempt: JobAttempt, _ job: PlannedJob) throws {
        try AtomicFile.write(try Self.encoder.encode(attempt), to: job.statusFile)
    }

    /// The child's output goes to the job's log (appended when it resumes, so both attempts show). The
    /// child is told to stop when this process is (SIGTERM from scancel or a preemption, SIGINT), so the
    /// attempt is recorded as failed before Slurm's kill -9.
    func spawn(_ arguments: [String], log: String, append: Bool) throws -> (status: Int32, signalled: Bool) {
        let fm = FileManager.default
        let header = Data(("bayeval " + arguments.joined(separator: " ") + "\n").utf8)
        if !append || !fm.fileExists(atPath: log) {
            guard fm.createFile(atPath: log, contents: header) else {
                throw WriteError(file: log, item: "", "cannot create the job's log")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: log) else {
            throw WriteError(file: log, item: "", "cannot open the job's log")
        }
        defer { try? handle.close() }
        handle.seekToEndOfFile()
        if append { handle.write(Data("--- resumed\n".utf8) + header) }
        let child = Process()
        child.executableURL = executable
        child.arguments = arguments
        child.standardOutput = handle
        child.standardError = handle
        // A handler, not SIG_IGN: an ignored signal stays ignored in the child across exec, a handled one
        // is reset to its default there.
        // Unblocked too: a blocked mask is inherited across exec, and a parent may have left one.
        var mask = sigset_t()
        sigemptyset(&mask)
        for sig in [SIGTERM, SIGINT] {
            sigaddset(&mask, sig)
            signal(sig) { _ in
                if childToStop > 0 { kill(childToStop, SIGTERM) }
            }
        }
        pthread_sigmask(SIG_UNBLOCK, &mask, nil)
        defer {
            childToStop = 0
            signal(SIGTERM, SIG_DFL)
            signal(SIGINT, SIG_DFL)
        }
        try child.run()
        childToStop = child.processIdentifier
        child.waitUntilExit()
        return (child.terminationStatus, child.terminationReason == .uncaughtSignal)
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        return e
    }()

    static func timestamp() -> String { ISO8601DateFormatter().string(from: Date()) }
}
