import Foundation
import Testing
@testable import Loaders

@Suite struct ZstdTests {
    @Test func roundTrip() throws {
        let text = Data(String(repeating: "bayeval zstd round trip\n", count: 5000).utf8)
        let packed = Zstd.compress(text)
        #expect(packed.count < text.count / 10)
        let back = try packed.withUnsafeBytes { try Zstd.decompress($0, file: "mem.zst") }
        #expect(back == text)
    }

    @Test func truncatedStreamIsAnErrorNamingTheFile() throws {
        let packed = Zstd.compress(Data(String(repeating: "abc", count: 10000).utf8))
        let cut = packed.prefix(packed.count / 2)
        #expect(throws: LoadError.self) {
            try cut.withUnsafeBytes { try Zstd.decompress($0, file: "cut.zst") }
        }
        do {
            _ = try cut.withUnsafeBytes { try Zstd.decompress($0, file: "cut.zst") }
        } catch let e as LoadError {
            #expect(e.file == "cut.zst")
        }
    }
}
