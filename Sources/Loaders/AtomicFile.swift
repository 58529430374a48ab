import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a whole file so that a reader (or a job killed midway) sees either the old content or the
/// new, never half of it: the bytes go to a temporary file in the same folder, are flushed, and the
/// temporary file is renamed over the target (rename(2) replaces it in one step).
public enum AtomicFile {
    public static func write(_ data: Data, to path: String, item: String = "") throws {
        let folder = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let temporary = ((folder.isEmpty ? "." : folder) as NSString)
            .appendingPathComponent(".\(name).\(getpid()).partial")
        guard FileManager.default.createFile(atPath: temporary, contents: data),
            let handle = FileHandle(forWritingAtPath: temporary)
        else { throw WriteError(file: path, item: item, "cannot write \(temporary)") }
        try? handle.synchronize()
        try? handle.close()
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw WriteError(file: path, item: item, "cannot replace the file: \(reason)")
        }
    }

    public static func write(_ text: String, to path: String, item: String = "") throws {
        try write(Data(text.utf8), to: path, item: item)
    }
}
