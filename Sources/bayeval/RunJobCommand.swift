import ArgumentParser
import Foundation
import Jobs
import Loaders

struct RunJobCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run-job",
        abstract: "Run one job of a plan (a Slurm array task): skipped when done, resumed when interrupted.",
        discussion: """
            The job's inputs are hashed again first: when they are not what the plan was made from, the job \
            is refused (run `bayeval plan --replan PLAN` to accept them). A job whose folder holds its \
            finished results (same arguments, same input hash) ends at once; one cancelled or preempted \
            midway continues from its predictions. Exits non-zero when the job fails.
            """)

    @Argument(help: "The plan file (bayeval plan … --output PLAN).") var plan: String

    @Option(help: "The job's index: its line in the plan, from 0 ($SLURM_ARRAY_TASK_ID).") var index: Int

    func run() throws {
        let jobs = try PlanFile.read(plan)
        guard jobs.indices.contains(index) else {
            throw UsageError(
                file: plan, item: "--index \(index)",
                "out of range: the plan holds \(jobs.count) job(s), indices 0 to \(jobs.count - 1)")
        }
        let job = jobs[index]
        let head = "job \(index) (\(job.checkpoint) \(job.method))"
        guard FileManager.default.changeCurrentDirectoryPath(job.workingDirectory) else {
            throw UsageError(
                file: plan, item: "job \(index)", "its working folder \(job.workingDirectory) is not there")
        }
        if let arguments = job.arguments {
            let now = try Bayeval.inputHasher().hash(arguments: arguments, inputs: job.inputs)
            guard now == job.inputHash else {
                let refusal = UsageError(
                    file: plan, item: "job \(index) (line \(index + 1))",
                    "its inputs changed since the plan was written (hash \(now.prefix(12))…, planned "
                        + "\(job.inputHash.prefix(12))…; inputs: "
                        + job.inputs.map { "\($0.role) \($0.path)" }.joined(separator: ", ")
                        + "). Refused, so results of other inputs are never mixed in; run `bayeval plan --replan "
                        + "\(plan)` to accept them")
                // So that plan --status lists it as failed (with why), not as pending.
                try JobExecution().recordRefusal(
                    job, message: "refused: its inputs changed since the plan (bayeval plan --replan accepts them)")
                throw refusal
            }
        }
        switch try JobExecution().run(job, notice: { note("\(head): \($0)") }) {
        case .skipped(let reason): note("\(head): skipped (\(reason))")
        case .doneEarlier: note("\(head): done earlier")
        case .done(let record, let seconds):
            note(head + String(format: ": %.1f s, ", seconds) + TreeTable.line(job.treeRuns(record)))
        case .failed(let status, let message):
            warn("\(head): failed (exit status \(status)): \(message)")
            throw ExitCode(1)
        }
    }
}
