import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSCore
@testable import DLSMSHTTP

/// The QR encoder against published vectors, an independent encoder (python-qrcode, module by
/// module, every mask) and a decoder (zbar). (segno was tried first: it adds a zero codeword
/// after a terminator that ends on a byte boundary, which the standard does not, so its
/// modules differ though both decode.)
@Suite struct QRCodeTests {
    static let encoderAvailable = peerAvailable(pythonModule: "qrcode")
    static let zbarAvailable = peerAvailable(programs: ["/usr/bin/zbarimg"])

    /// Thonky's worked example (version 1-M, "HELLO WORLD"): its 16 data codewords give these 10
    /// error correction codewords.
    @Test func reedSolomonMatchesThePublishedExample() {
        let data: [UInt8] = [32, 91, 11, 120, 209, 114, 220, 77, 67, 64, 236, 17, 236, 17, 236, 17]
        let ec = ReedSolomon.remainder(data, ReedSolomon.generator(degree: 10))
        #expect(ec == [196, 35, 39, 119, 235, 215, 231, 226, 93, 23])
    }

    /// The format information of level M with mask 5 is 100000011001110 (the standard's table),
    /// read from both copies.
    @Test func formatInformationIsInBothPlaces() throws {
        let q = try QRCode(Array("seat".utf8), mask: 5)
        let first = (0..<6).map { q[$0, 8] } + [q[7, 8], q[8, 8], q[8, 7]] + (9..<15).map { q[8, 14 - $0] }
        let expected = "100000011001110".reversed().map { $0 == "1" }  // bit 0 first
        #expect(first == Array(expected))
        let second = (0..<8).map { q[8, q.size - 1 - $0] } + (8..<15).map { q[q.size - 15 + $0, 8] }
        #expect(second == Array(expected))
        #expect(q[q.size - 8, 8])  // the dark module
    }

    @Test func sizesAndLimits() throws {
        #expect(try QRCode(Array(repeating: 65, count: 14)).version == 1)
        #expect(try QRCode(Array(repeating: 65, count: 15)).version == 2)
        #expect(try QRCode(Array(repeating: 65, count: 213)).version == 10)
        #expect(throws: QRCode.Failure.tooLong(214)) { try QRCode(Array(repeating: 65, count: 214)) }
        let svg = try QRCode(Array("x".utf8)).svg(scale: 2, title: "seat <1> & \"2\"")
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 58 58\""))
        #expect(svg.contains("<title>seat &lt;1&gt; &amp; &quot;2&quot;</title>"))
    }

    @Test(.enabled(if: encoderAvailable, "python-qrcode is not installed (CI installs it)"))
    func everyModuleMatchesAnIndependentEncoder() async throws {
        let inputs = [
            "https://library.example/checkin/AAAAAQ", "x", String(repeating: "é", count: 40),
            "http://127.0.0.1:8080/checkin/" + String(repeating: "Zq9_", count: 20),
            String(repeating: "0123456789", count: 21),
        ]
        for text in inputs {
            let bytes = Array(text.utf8)
            for mask in 0..<8 {
                let mine = try QRCode(bytes, mask: mask)
                let hex = bytes.map { String(format: "%02x", $0) }.joined()
                let theirs = try await runProgram(
                    "/usr/bin/env", ["python3", peerScript("qr_matrix.py"), hex, String(mine.version), String(mask)])
                #expect(theirs.status == 0, "\(theirs.error)")
                let rows = theirs.output.split(separator: "\n").map(String.init)
                let drawn = (0..<mine.size).map { y in (0..<mine.size).map { mine[y, $0] ? "1" : "0" }.joined() }
                #expect(rows == drawn, "\(text.prefix(20))… version \(mine.version), mask \(mask)")
            }
        }
    }

    @Test(.enabled(if: zbarAvailable, "zbarimg is not installed (CI installs zbar-tools)"))
    func zbarDecodesWhatWeEncode() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        for text in [
            "http://127.0.0.1:8080/checkin/AAAAAQEjRWeJq83v", "Seat S-014 - Silent Study Zone", "1",
            "http://127.0.0.1:8080/checkin/AAAAF_gy7i9-x4KuRGOkmQ",
        ] {
            let q = try QRCode(Array(text.utf8))
            let decoded = try await zbarRead(q, in: dir)
            #expect(decoded.status == 0, "\(decoded.error)")
            #expect(decoded.output == text + "\n", "mask \(q.mask), version \(q.version)")
        }
    }
}
