import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Progress on stderr: a redrawn bar with examples/s and ETA on a terminal, plain periodic lines
/// otherwise (logs, CI), so long runs show they are alive without flooding a file.
final class ProgressReporter {
    let total: Int
    let label: String
    let start = Date()
    let isTerminal = isatty(STDERR_FILENO) != 0
    private var lastPrint = Date.distantPast
    private var lastFraction = -1.0
    private let offset: Int
    private var finished = false

    /// `offset`: examples already done before this run (resume).
    init(total: Int, label: String, offset: Int = 0) {
        self.total = total
        self.label = label
        self.offset = offset
    }

    func update(_ doneThisRun: Int) {
        let done = offset + doneThisRun
        guard !finished else { return }
        if done >= total { finished = true }
        let elapsed = Date().timeIntervalSince(start)
        let rate = elapsed > 0 ? Double(doneThisRun) / elapsed : 0
        let eta = rate > 0 ? Double(total - done) / rate : 0
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        if isTerminal {
            guard Date().timeIntervalSince(lastPrint) > 0.2 || done == total else { return }
            let width = 30
            let filled = Int(fraction * Double(width))
            let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "\r%@ [%@] %d/%d  %.1f ex/s  ETA %@ ",
                        label, bar, done, total, rate, Self.clock(eta)
                    ).utf8))
            if done == total { FileHandle.standardError.write(Data("\n".utf8)) }
        } else {
            // Every 10 % or 30 s, whichever comes first.
            guard fraction - lastFraction >= 0.1 || Date().timeIntervalSince(lastPrint) > 30 || done == total else {
                return
            }
            lastFraction = fraction
            FileHandle.standardError.write(
                Data(
                    String(
                        format: "%@: %d/%d examples, %.1f ex/s, ETA %@\n",
                        label, done, total, rate, Self.clock(eta)
                    ).utf8))
        }
        lastPrint = Date()
    }

    static func clock(_ seconds: Double) -> String {
        let s = Int(seconds.rounded())
        return String(format: "%02d:%02d", s / 60, s % 60)
    }
}

func warn(_ message: String) {
    FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
}

func note(_ message: String) {
    FileHandle.standardError.write(Data("\(message)\n".utf8))
}
