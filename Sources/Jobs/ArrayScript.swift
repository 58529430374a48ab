import Foundation
import Loaders

/// The sbatch script of a plan: a job array whose task i runs `bayeval run-job PLAN --index i`, with the
/// resources each task asks for. A resubmission is the same script with another `--array` line.
public struct ArrayScript: Sendable, Equatable {
    public var jobName = "bayeval"
    /// Slurm's --time (D-HH:MM:SS or HH:MM:SS), --mem (e.g. 64G) and --cpus-per-task.
    public var time = "02:00:00"
    public var memory = "16G"
    public var cpusPerTask = 2
    /// --gres (gpu:1, gpu:h100:1), --partition and --account, left out when nil.
    public var gres: String?
    public var partition: String?
    public var account: String?
    /// At most this many tasks at once (the array's %P); nil: as many as Slurm allows.
    public var parallel: Int?

    public init() {}

    /// `indices` are the array tasks to run; Slurm's output of task i goes to `logFolder/<array>_<i>.out`.
    public func render(
        plan: String, indices: [Int], executable: String, workingDirectory: String, logFolder: String, note: String
    ) -> String {
        var lines = ["#!/bin/bash", "# \(note)", "#SBATCH --job-name=\(jobName)"]
        lines.append("#SBATCH --array=\(Self.arraySpec(indices))" + (parallel.map { "%\($0)" } ?? ""))
        lines += [
            "#SBATCH --output=\((logFolder as NSString).appendingPathComponent("%A_%a.out"))",
            "#SBATCH --chdir=\(workingDirectory)", "#SBATCH --time=\(time)", "#SBATCH --mem=\(memory)",
            "#SBATCH --cpus-per-task=\(cpusPerTask)",
        ]
        if let gres { lines.append("#SBATCH --gres=\(gres)") }
        if let partition { lines.append("#SBATCH --partition=\(partition)") }
        if let account { lines.append("#SBATCH --account=\(account)") }
        lines += [
            "# A task whose results exist (same arguments, same input hash) ends at once; one cancelled or",
            "# preempted continues from its predictions when it runs again.",
            "exec \(Self.quoted(executable)) run-job \(Self.quoted(plan)) --index \"$SLURM_ARRAY_TASK_ID\"", "",
        ]
        return lines.joined(separator: "\n")
    }

    /// `script` with its array narrowed to `indices` (the failed tasks), its %P kept.
    public static func resubmission(of script: String, indices: [Int], file: String) throws -> String {
        var found = false
        let lines = script.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            guard line.hasPrefix("#SBATCH --array=") else { return String(line) }
            found = true
            let parallel = line.split(separator: "%").dropFirst().first.map { "%" + $0 } ?? ""
            return "#SBATCH --array=\(arraySpec(indices))\(parallel)"
        }
        guard found else { throw UsageError(file: file, item: "--array", "the script has no #SBATCH --array line") }
        return lines.joined(separator: "\n")
    }

    /// Sorted indices as Slurm's ranges: [0,1,2,5,7,8] → "0-2,5,7-8".
    public static func arraySpec(_ indices: [Int]) -> String {
        var parts: [String] = []
        var sorted = Array(Set(indices)).sorted()[...]
        while let first = sorted.first {
            var last = first
            sorted = sorted.dropFirst()
            while sorted.first == last + 1 {
                last += 1
                sorted = sorted.dropFirst()
            }
            parts.append(first == last ? "\(first)" : "\(first)-\(last)")
        }
        return parts.joined(separator: ",")
    }

    static func quoted(_ s: String) -> String {
        s.allSatisfy { $0.isLetter || $0.isNumber || "/._-+=:@".contains($0) }
            ? s : "'" + s.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
