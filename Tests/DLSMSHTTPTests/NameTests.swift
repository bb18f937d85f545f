import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct NameTests {
    @Test func namesCannotForgeLinesOrReorderText() async throws {
        try await withService { client, _, _ in
            for name in ["Mallory\\n11\\tadmin", "a\\u001b[2J", "x\\u202ey", "tab\\there", "del\\u007f"] {
                let r = try await client.call(
                    .post, "/auth/register",
                    json: #"{"student_id":"n\#(name.count)","password":"long-enough","name":"\#(name)"}"#)
                #expect(r.status == .badRequest, "\(name): \(r.text)")
            }
            let ok = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"n1","password":"long-enough","name":"Zoë Ünal-Łukasz"}"#
            )
            #expect(ok.status == .created)
            // Invisible characters that make a name look like another: refused like in labels.
            for scalar in [0x200B, 0x200E, 0x200F, 0x061C, 0xFEFF, 0x2028, 0x2029, 0x00AD, 0x2060] {
                let name = "Eve\\u\(String(format: "%04X", scalar))Adams"
                let r = try await client.call(
                    .post, "/auth/register",
                    json: #"{"student_id":"inv\#(scalar)","password":"long-enough","name":"\#(name)"}"#)
                #expect(r.status == .badRequest && r.code == "bad_request", "U+\(String(scalar, radix: 16)): \(r.text)")
            }
            // A Persian name keeps its zero-width non-joiner.
            let persian = try await client.call(
                .post, "/auth/register",
                json: #"{"student_id":"fa1","password":"long-enough","name":"\#("مهر\u{200C}داد")"}"#)
            #expect(persian.status == .created, "\(persian.text)")
        }
    }

    /// One rule for all text people see: names, reasons and notes refuse what labels refuse,
    /// identifiers also the joiners.
    @Test func everyTextPeopleSeeRefusesInvisibleCharacters() {
        func refused(_ text: String, identifier: Bool = false) -> Bool {
            (try? BookingRules.validateText(text, field: "f", maxBytes: 200, identifier: identifier)) == nil
        }
        for v: UInt32 in [0x200B, 0x200E, 0x200F, 0x061C, 0xFEFF, 0x2028, 0x2029, 0x00AD, 0x2060, 0x2064, 0x180E] {
            let text = "a" + String(Character(Unicode.Scalar(v)!)) + "b"
            #expect(refused(text) && refused(text, identifier: true), "U+\(String(v, radix: 16))")
        }
        #expect(!refused("a\u{200C}b") && refused("a\u{200C}b", identifier: true))
        #expect(!refused("a\u{200D}b") && refused("a\u{200D}b", identifier: true))
        #expect(!refused("Library closed for the fire drill") && !refused("Zoë Ünal-Łukasz 😀"))
    }
}
