import Foundation
import Testing
@testable import Loaders

@Suite struct SHA256Tests {
    @Test func knownVectors() {
        // FIPS 180-4 examples and the empty string.
        #expect(SHA256.hexDigest([]) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        #expect(
            SHA256.hexDigest(Array("abc".utf8)) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hexDigest(Array("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq".utf8))
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            SHA256.hexDigest([UInt8](repeating: 0x61, count: 1_000_000))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func incrementalUpdatesAgreeWithOneShot() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        var h = SHA256()
        for chunk in [0..<1, 1..<63, 63..<64, 64..<200, 200..<1000] { bytes[chunk].withUnsafeBytes { h.update($0) } }
        #expect(h.finalize() == SHA256.hexDigest(bytes))
    }

    @Test func fileDigestMatchesSha256sum() throws {
        // `sha256sum fixtures/configs/bert.json`
        #expect(
            try SHA256.hexDigest(file: fixture("configs/bert.json"))
                == "ce5ced5dd1a66476589bc1221689572f9a85e325435695e00fdde3d07eb609f0")
    }
}
