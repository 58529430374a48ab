import Foundation
import Loaders

/// One example's result as `--predictions` records it: the id, the label and the predictive probabilities
/// (nil when the model produced non-finite logits for it).
public struct ExamplePrediction: Codable, Sendable, Equatable {
    public let id: String
    public let label: Int
    public let probs: [Double]?
    /// Which row of a multi-method run (`laplace`) the prediction belongs to; absent for single-method files.
    public let method: String?

    public init(id: String, label: Int, probs: [Double]?, method: String? = nil) {
        self.id = id
        self.label = label
        self.probs = probs
        self.method = method
    }
}

/// The JSON-lines file of predictions, appended as results are computed so an interrupted run loses at
/// most the batch in flight, and read back by `--resume`.
public final class PredictionLog {
    public let path: String
    private let handle: FileHandle

    /// Opens for appending; `truncate` starts a fresh file.
    public init(path: String, truncate: Bool) throws {
        self.path = path
        let fm = FileManager.default
        if truncate || !fm.fileExists(atPath: path) {
            guard fm.createFile(atPath: path, contents: nil) else {
                throw WriteError(file: path, item: "", "cannot create the predictions file")
            }
        }
        guard let h = FileHandle(forUpdatingAtPath: path) else {
            throw WriteError(file: path, item: "", "cannot open the predictions file for writing")
        }
        handle = h
        // A torn last line (a write cut by a kill) is cut off before appending: otherwise the next record
        // would be glued onto it, and the file unreadable at the second resume.
        let end = handle.seekToEndOfFile()
        if end > 0 {
            let tail = min(end, 1 << 20)
            try? handle.seek(toOffset: end - tail)
            let bytes = handle.readData(ofLength: Int(tail))
            if bytes.last != 0x0A {
                let keep =
                    bytes.lastIndex(of: 0x0A).map { end - tail + UInt64($0 - bytes.startIndex) + 1 }
                    ?? (tail == end ? 0 : end)
                do { try handle.truncate(atOffset: keep) } catch {
                    throw WriteError(file: path, item: "", "cannot cut the incomplete last line: \(error)")
                }
            }
            handle.seekToEndOfFile()
        }
    }

    deinit { try? handle.close() }

    public func append(_ predictions: [ExamplePrediction]) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = Data()
        for p in predictions {
            data.append(try encoder.encode(p))
            data.append(0x0A)
        }
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
        } catch {
            throw WriteError(file: path, item: "", "cannot append predictions: \(error.localizedDescription)")
        }
    }

    /// Reads a log back. A final line without its newline is what an interrupted write leaves: it is
    /// dropped (and reported through `droppedPartialLine`) and its example scored again; any other
    /// malformed line is an error naming it.
    public static func read(path: String) throws -> (predictions: [ExamplePrediction], droppedPartialLine: Bool) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], false) }
        let data = try Zstd.readMaybeCompressed(path: path)
        var lines = data.split(separator: 0x0A, omittingEmptySubsequences: false)
        var dropped = false
        if let last = lines.last, !last.isEmpty, data.last != 0x0A {
            lines.removeLast()
            dropped = true
        }
        var out: [ExamplePrediction] = []
        for (n, line) in lines.enumerated() where !line.isEmpty {
            do {
                out.append(try JSONDecoder().decode(ExamplePrediction.self, from: Data(line)))
            } catch {
                throw LoadError(.malformedRow, file: path, item: "line \(n + 1)", "not a prediction record (\(error))")
            }
        }
        return (out, dropped)
    }
}
