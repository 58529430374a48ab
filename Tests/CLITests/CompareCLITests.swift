import Foundation
import Records
import Testing
import TestModels

/// A checkpoint tree end to end: `evaluate TREE` over two seeds of the bundled MiniLM SST-2 adapter with
/// map and temperature, resumed; `compare` writing the report, its tables checked against run.json and the
/// HTML rendered in headless Chromium; and the bad inputs a tree and a comparison refuse.
@Suite struct CompareCLITests {
    let adapter = fixture("trained/minilm-sst2")

    func makeTree(_ dir: TempDir) throws -> String {
        let root = dir.path + "/tree"
        for seed in [1, 2] {
            let target = root + "/map/minilm/sst2/run-seed\(seed)"
            try FileManager.default.createDirectory(
                atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: adapter, toPath: target)
        }
        return root
    }

    @Test(
        .enabled(if: RealModels.miniLMEnabled, Comment(rawValue: RealModels.miniLMNote)),
        .enabled(if: Browser.enabled, Comment(rawValue: Browser.note)))
    func treeEvaluationAndReport() throws {
        let dir = TempDir()
        let root = try makeTree(dir)
        let out = dir.path + "/out"
        let args = [
            "evaluate", root, "--model", RealModels.miniLM, "--methods", "map,temperature", "--limit", "40",
            "--fit-limit", "40", "--output", out,
        ]
        let r = try bayeval(args)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("temperature") && r.stdout.contains(" ± "), "\(r.stdout)")
        let csv = try String(contentsOfFile: out + "/summary.csv", encoding: .utf8).split(separator: "\n")
        #expect(csv.count == 5 && csv[0].hasPrefix("checkpoint,model,task,split,seed,training,method"))
        #expect(csv.dropFirst().allSatisfy { $0.contains(",sst2,") && $0.contains(",done,") })
        #expect(csv.filter { $0.contains(",2,map,") }.count == 2, "seeds from run-seed<N>: \(csv)")
        // Finished runs are not run again.
        let again = try bayeval(args)
        #expect(again.status == 0 && again.stderr.components(separatedBy: "done earlier").count == 5, "\(again.stderr)")

        // Other settings into the same folder: those runs are made again, never mixed with the old ones.
        let other = dir.path + "/other"
        try FileManager.default.copyItem(atPath: out, toPath: other)
        let changed = try bayeval(
            ["evaluate", root, "--model", RealModels.miniLM, "--methods", "map", "--limit", "30", "--output", other])
        #expect(changed.status == 0 && changed.stderr.components(separatedBy: "other settings").count == 3)
        let rerun = try RunRecord.read(from: other + "/map/minilm/sst2/run-seed1/map/run.json")
        #expect(rerun.results[0].metrics.count == 30)

        // The report.
        let report = dir.path + "/report"
        let c = try bayeval(["compare", out, "--output", report, "--bootstrap", "100"])
        #expect(c.status == 0, "\(c.stderr)")
        let markdown = try String(contentsOfFile: report + "/report.md", encoding: .utf8)
        for path in try ComparisonInputs.recordPaths([out]) {
            let record = try RunRecord.read(from: path)
            for result in record.posteriorResults {
                let line = markdown.split(separator: "\n").first {
                    $0.contains("| \(result.method.label) |")
                        && $0.contains("run-seed\(path.contains("seed1") ? 1 : 2)")
                }
                let row = try #require(line, "no row for \(result.method.label) of \(path)")
                for value in [result.metrics.accuracy, result.metrics.ece, result.metrics.nll, result.metrics.brier] {
                    #expect(row.contains(String(format: "%.4f", value)), "\(row) lacks \(value)")
                }
            }
        }
        #expect(markdown.contains("Paired differences against MAP") && markdown.contains("figures/reliability-1.svg"))
        try checkInBrowser(report + "/report.html", figures: ["reliability-1", "risk-coverage-1"])

        // A predictions file that is not the run's, and runs from another version paired with this one.
        let broken = dir.path + "/broken/sst2/map"
        try FileManager.default.createDirectory(atPath: broken, withIntermediateDirectories: true)
        let seed1 = out + "/map/minilm/sst2/run-seed1"
        try FileManager.default.copyItem(atPath: seed1 + "/map/run.json", toPath: broken + "/run.json")
        let lines = try String(contentsOfFile: seed1 + "/map/predictions.jsonl", encoding: .utf8).split(separator: "\n")
        try (lines.dropLast(3).joined(separator: "\n") + "\n").write(
            toFile: broken + "/predictions.jsonl", atomically: true, encoding: .utf8)
        let mismatch = try bayeval(["compare", broken, "--output", dir.path + "/r2"])
        #expect(mismatch.status != 0)
        #expect(
            mismatch.stderr.contains(broken + "/predictions.jsonl") && mismatch.stderr.contains(broken + "/run.json"),
            "\(mismatch.stderr)")

        let mixed = dir.path + "/mixed/x"
        try FileManager.default.createDirectory(atPath: mixed + "/temperature", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: seed1 + "/map", toPath: mixed + "/map")
        var json = try jsonObject(try String(contentsOfFile: seed1 + "/temperature/run.json", encoding: .utf8))
        json["bayevalVersion"] = "0.0.9"
        json["results"] = (json["results"] as! [[String: Any]]).filter {
            ($0["method"] as! [String: Any])["label"] as! String != "MAP"
        }
        try JSONSerialization.data(withJSONObject: json).write(
            to: URL(fileURLWithPath: mixed + "/temperature/run.json"))
        let temperatureLines = try String(contentsOfFile: seed1 + "/temperature/predictions.jsonl", encoding: .utf8)
            .split(separator: "\n").filter { !$0.contains("\"method\":\"MAP\"") }
        try (temperatureLines.joined(separator: "\n") + "\n").write(
            toFile: mixed + "/temperature/predictions.jsonl", atomically: true, encoding: .utf8)
        let unpaired = try bayeval(["compare", dir.path + "/mixed", "--output", dir.path + "/r3", "--bootstrap", "50"])
        #expect(unpaired.status == 0, "\(unpaired.stderr)")
        #expect(unpaired.stderr.contains("different versions: compared unpaired"), "\(unpaired.stderr)")
        // The intervals' level is the user's and the report says which.
        let ninety = try bayeval([
            "compare", dir.path + "/mixed", "--output", dir.path + "/r4", "--bootstrap", "50", "--level", "0.9",
        ])
        #expect(ninety.status == 0, "\(ninety.stderr)")
        let text = try String(contentsOfFile: dir.path + "/r4/report.md", encoding: .utf8)
        #expect(text.contains("90 % percentile bootstrap intervals") && !text.contains("95 %"))
        #expect(
            try bayeval(["compare", dir.path + "/mixed", "--output", dir.path + "/r5", "--level", "1"]).status != 0)
    }

    /// Renders the report in headless Chromium: no console messages (a blocked network load or a script
    /// error would print one), every figure laid out with a non-zero size (measured in a copy with a probe
    /// script), and a screenshot kept under .build/ for a person to look at.
    func checkInBrowser(_ html: String, figures: [String]) throws {
        let chromium = try #require(Browser.path, "\(Browser.note)")
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
        let screenshot = packageRoot.appendingPathComponent(".build/report-screenshot.png").path
        let shot = try run(
            chromium, flags + ["--window-size=1200,2400", "--screenshot=\(screenshot)", "file://\(html)"])
        let console = shot.stderr.split(separator: "\n").filter { $0.contains(":CONSOLE") }
        #expect(console.isEmpty, "console messages: \(console)")
        #expect(((try? FileManager.default.attributesOfItem(atPath: screenshot)[.size] as? Int) ?? 0) > 10_000)

        var page = try String(contentsOfFile: html, encoding: .utf8)
        let policy = try #require(
            page.range(of: "<meta http-equiv=\"Content-Security-Policy\"[^>]*>", options: .regularExpression))
        page.removeSubrange(policy)
        let probe = """
            <script>window.__errors=[];window.addEventListener('error',e=>window.__errors.push(String(e.message)));
            window.addEventListener('load',()=>{const f=[...document.querySelectorAll('figure')].map(x=>{
            const r=x.querySelector('svg').getBoundingClientRect();return {id:x.id,w:r.width,h:r.height}});
            const p=document.createElement('pre');p.id='probe';
            p.textContent=JSON.stringify({figures:f,errors:window.__errors});
            document.body.appendChild(p)});</script>
            """
        page = page.replacingOccurrences(of: "<head>", with: "<head>" + probe)
        let probed = (html as NSString).deletingLastPathComponent + "/probe.html"
        try page.write(toFile: probed, atomically: true, encoding: .utf8)
        let dom = try run(chromium, flags + ["--dump-dom", "--virtual-time-budget=3000", "file://\(probed)"]).stdout
        let start = try #require(dom.range(of: "<pre id=\"probe\">")),
            end = try #require(dom.range(of: "</pre>", range: start.upperBound..<dom.endIndex))
        let measured = try jsonObject(
            String(dom[start.upperBound..<end.lowerBound]).replacingOccurrences(of: "&quot;", with: "\""))
        #expect((measured["errors"] as? [Any])?.isEmpty == true, "\(measured)")
        let sizes = try #require(measured["figures"] as? [[String: Any]])
        #expect(Set(sizes.compactMap { $0["id"] as? String }).isSuperset(of: figures), "\(sizes)")
        for s in sizes { #expect((s["w"] as? Double ?? 0) > 100 && (s["h"] as? Double ?? 0) > 100, "\(s)") }
    }

    func run(_ executable: String, _ arguments: [String]) throws -> CLIResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = arguments
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile(), e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return CLIResult(
            status: p.terminationStatus, stdout: String(decoding: o, as: UTF8.self),
            stderr: String(decoding: e, as: UTF8.self))
    }

    @Test func treesWithoutAdaptersOrTasksAreRefused() throws {
        let dir = TempDir()
        try FileManager.default.createDirectory(atPath: dir.path + "/empty/a", withIntermediateDirectories: true)
        let empty = try bayeval(["evaluate", dir.path + "/empty", "--output", dir.path + "/o"])
        #expect(empty.status != 0 && empty.stderr.contains(dir.path + "/empty") && empty.stderr.contains("no adapter"))
        // A peft adapter without bayeval's metadata, in a path that names no task.
        try FileManager.default.createDirectory(atPath: dir.path + "/unnamed/map", withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            atPath: fixture("models/tiny-bert-adapter"), toPath: dir.path + "/unnamed/map/run-seed1")
        let unknown = try bayeval(["evaluate", dir.path + "/unnamed", "--output", dir.path + "/o"])
        #expect(unknown.status != 0, "\(unknown.stderr)")
        #expect(
            unknown.stderr.contains("unnamed/map/run-seed1") && unknown.stderr.contains("--task"), "\(unknown.stderr)")
        let badMethod = try bayeval([
            "evaluate", dir.path + "/unnamed", "--methods", "map,laplace-kron", "--output", "x",
        ])
        #expect(badMethod.status != 0 && badMethod.stderr.contains("laplace-kron"), "\(badMethod.stderr)")
        let noRecords = try bayeval(["compare", dir.path + "/empty", "--output", dir.path + "/r"])
        #expect(noRecords.status != 0 && noRecords.stderr.contains("no run record"), "\(noRecords.stderr)")
    }
}
