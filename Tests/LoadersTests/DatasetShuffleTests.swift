import Foundation
import Testing
@testable import Loaders

@Suite struct DatasetShuffleTests {
    /// The first outputs of SplitMix64 from state 0 as given by the reference C implementation.
    @Test func splitMixReferenceValues() {
        var g = SplitMix64(seed: 0)
        #expect(
            [g.next(), g.next(), g.next()] == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F])
    }

    /// Expected orders were computed with a separate Python transcription of the documented algorithm
    /// (SplitMix64, rejection below the largest multiple of the bound, Fisher–Yates from the end).
    @Test func shuffleIsPinned() throws {
        #expect(SeededShuffle.shuffled(Array(0..<10), seed: 42) == [0, 9, 5, 8, 6, 4, 7, 2, 1, 3])
        let arc = try DatasetFixtures.load(.arcChallenge, .train).shuffled(seed: 42)
        #expect(
            arc.examples.prefix(5).map(\.id)
                == ["Mercury_SC_415349", "Mercury_182718", "Mercury_414102", "TAKS_2009_8_45", "Mercury_7187040"])
        let anchors = try DatasetFixtures.load(.openBookQA, .train).shuffled(seed: 42).select(first: 500)
        #expect(anchors.count == 500)
        #expect(anchors.examples.prefix(3).map(\.id) == ["13-137", "7-766", "12-940"])
        #expect(anchors.examples.last?.id == "1696")
    }

    @Test func shuffleIsAPermutationAndSeedsDiffer() {
        let items = Array(0..<1000)
        let a = SeededShuffle.shuffled(items, seed: 1), b = SeededShuffle.shuffled(items, seed: 2)
        #expect(a.sorted() == items && b.sorted() == items)
        #expect(a != b && a != items)
        #expect(SeededShuffle.shuffled(items, seed: 1) == a)
        #expect(SeededShuffle.shuffled([7], seed: 3) == [7])
    }

    @Test func boundedDrawsStayInRange() {
        var g = SplitMix64(seed: 9)
        var seen = Set<UInt64>()
        for _ in 0..<2000 {
            let v = g.next(below: 7)
            #expect(v < 7)
            seen.insert(v)
        }
        #expect(seen.count == 7)
    }

    @Test func selectFirstClamps() throws {
        let d = try DatasetFixtures.load(.arcChallenge, .validation)
        #expect(d.select(first: 10_000).count == 299)
        #expect(d.select(first: 0).count == 0)
        #expect(d.select(first: 3).examples == Array(d.examples.prefix(3)))
    }

    @Test func locateDataDirectory() throws {
        let root = DatasetFixtures.dataDirectory.deletingLastPathComponent().deletingLastPathComponent()
        // From the checkout's current directory (or any folder below it).
        let fromCwd = try DataDirectory.locate(
            environment: [:], executable: nil,
            currentDirectory: root.appendingPathComponent("Sources/Loaders"))
        #expect(fromCwd.standardizedFileURL.path == DatasetFixtures.dataDirectory.standardizedFileURL.path)
        // From an executable inside the checkout's build folder.
        let fromExe = try DataDirectory.locate(
            environment: [:], executable: root.appendingPathComponent(".build/release/bayeval"),
            currentDirectory: URL(fileURLWithPath: "/"))
        #expect(fromExe.standardizedFileURL.path == DatasetFixtures.dataDirectory.standardizedFileURL.path)
        // BAYEVAL_HOME names the checkout; BAYEVAL_DATA is taken as is.
        let fromHome = try DataDirectory.locate(
            environment: ["BAYEVAL_HOME": root.path], executable: nil,
            currentDirectory: URL(fileURLWithPath: "/"))
        #expect(fromHome.standardizedFileURL.path == DatasetFixtures.dataDirectory.standardizedFileURL.path)
        let tmp = FileManager.default.temporaryDirectory
        #expect(try DataDirectory.locate(environment: ["BAYEVAL_DATA": tmp.path]).path == tmp.path)
        let missing = DatasetFixtures.loadError {
            _ = try DataDirectory.locate(environment: ["BAYEVAL_DATA": "/nonexistent/bayeval"])
        }
        #expect(missing?.kind == .io)
        let nowhere = DatasetFixtures.loadError {
            _ = try DataDirectory.locate(environment: [:], executable: nil, currentDirectory: URL(fileURLWithPath: "/"))
        }
        #expect(nowhere?.kind == .io && nowhere?.message.contains("BAYEVAL_DATA") == true)
    }
}
