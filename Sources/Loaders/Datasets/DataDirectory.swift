import Foundation

/// Finds the data directory (`<dir>/<task>/<file>[.zst]`) when the user gives none.
public enum DataDirectory {
    /// The bundled fixtures live at `fixtures/data` in the repository; an install copies them to
    /// `<prefix>/share/bayeval/data` next to `<prefix>/bin/bayeval`. The marker file tells a real data
    /// directory from an unrelated `fixtures/data`.
    public static let marker = "SOURCES.md"

    /// Search order:
    /// 1. `BAYEVAL_DATA` — used as is (it must be a directory; no marker needed, it may be a user's copy).
    /// 2. `BAYEVAL_HOME` — a repository checkout or install prefix: `$BAYEVAL_HOME/fixtures/data` or
    ///    `$BAYEVAL_HOME/share/bayeval/data`.
    /// 3. The executable's real directory (symlinks resolved) and each of its parents: `fixtures/data`
    ///    there (a binary under `.build/<config>/` inside the checkout) or `share/bayeval/data` (installed).
    /// 4. The current directory and its parents, the same two candidates.
    public static func locate(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: URL? = Bundle.main.executableURL,
        currentDirectory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    )
        throws -> URL
    {
        if let env = environment["BAYEVAL_DATA"], !env.isEmpty {
            guard isDirectory(env) else {
                throw LoadError(.io, file: env, item: "BAYEVAL_DATA", "BAYEVAL_DATA does not name a directory")
            }
            return URL(fileURLWithPath: env, isDirectory: true)
        }
        var roots: [URL] = []
        if let home = environment["BAYEVAL_HOME"], !home.isEmpty { roots.append(URL(fileURLWithPath: home)) }
        if let exe = executable { roots += ancestors(of: exe.resolvingSymlinksInPath().deletingLastPathComponent()) }
        roots += ancestors(of: currentDirectory.standardizedFileURL)
        var tried: [String] = []
        for root in roots {
            for candidate in ["fixtures/data", "share/bayeval/data"] {
                let dir = root.appendingPathComponent(candidate, isDirectory: true)
                if FileManager.default.fileExists(atPath: dir.appendingPathComponent(marker).path) { return dir }
                tried.append(dir.path)
            }
        }
        throw LoadError(
            .io, file: "fixtures/data", item: "",
            "no data directory found; set BAYEVAL_DATA, BAYEVAL_HOME or pass --data-dir "
                + "(looked in \(tried.prefix(6).joined(separator: ", "))\(tried.count > 6 ? ", …" : ""))")
    }

    private static func ancestors(of url: URL) -> [URL] {
        var out: [URL] = []
        var u = url.standardizedFileURL
        while true {
            out.append(u)
            let parent = u.deletingLastPathComponent().standardizedFileURL
            if parent.path == u.path { break }
            u = parent
        }
        return out
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDir: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDir) && isDir.boolValue
    }
}
