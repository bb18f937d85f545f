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
        }
    }
}
