import ArgumentParser
import Foundation

/// Every place a command will write is checked, and its folder created, before any work starts: a long
/// sweep must not run for 40 minutes and then fail on a missing folder, writing nothing.
enum OutputPaths {
    /// A file to be written: its folder is created if missing; it must not be a directory and the folder
    /// must be writable.
    static func prepareFile(_ path: String, option: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            throw ValidationError("\(option) \(path) is a directory; give a file name")
        }
        let folder = (path as NSString).deletingLastPathComponent
        try prepareDirectory(folder.isEmpty ? "." : folder, option: option)
    }

    /// A directory to be written into: created if missing (with its parents), and writable.
    static func prepareDirectory(_ path: String, option: String) throws {
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else {
                throw ValidationError("\(option): \(path) exists and is not a directory")
            }
        } else {
            do {
                try fm.createDirectory(atPath: path, withIntermediateDirectories: true)
            } catch {
                throw ValidationError("\(option): cannot create the folder \(path) (\(reason(error)))")
            }
        }
        guard fm.isWritableFile(atPath: path) else {
            throw ValidationError("\(option): the folder \(path) is not writable")
        }
    }

    /// Foundation's errors in words: the underlying POSIX message where there is one, not a Cocoa domain code.
    static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let posix = ns.userInfo[NSUnderlyingErrorKey] as? NSError, posix.domain == NSPOSIXErrorDomain,
            let code = POSIXErrorCode(rawValue: Int32(posix.code))
        {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedFailureReason ?? ns.localizedDescription
    }
}
