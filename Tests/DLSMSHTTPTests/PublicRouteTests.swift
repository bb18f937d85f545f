import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct PublicRouteTests {
    @Test func healthOpenAPIAndMetrics() async throws {
        try await withService { client, _, _ in
            let health = try await client.call(.get, "/healthz")
            #expect(health.status == .ok && health.json["status"] as? String == "healthy")
            #expect(health.json["seats"] as? Int == 50 && health.json["reservations"] as? Int == 8)
            let doc = try await client.call(.get, "/openapi.yaml")
            #expect(
                doc.status == .ok && doc.text.hasPrefix("openapi: 3.1.0")
                    && doc.text.contains("/reservations/{id}/checkin"))
            _ = try await client.call(.get, "/healthz")
            let metrics = try await client.call(.get, "/metrics")
            #expect(
                metrics.status == .ok && metrics.text.contains("dlsms_http_requests_total")
                    && metrics.text.contains("dlsms_wal_last_batch_records"))
        }
    }

    @Test func unknownRoutesAre404sAndWrongMethods405s() async throws {
        try await withService { client, _, _ in
            for (method, uri) in [
                (HTTPRequest.Method.get, "/nope"), (.get, "/reservations/1/extra"), (.post, "/seats/1/busy"),
            ] {
                let r = try await client.call(method, uri)
                #expect(r.status == .notFound && r.code == "not_found", "\(method) \(uri): \(r.text)")
            }
            let patch = try await client.call(.patch, "/reservations")
            #expect(patch.status == .methodNotAllowed && patch.code == "method_not_allowed")
            #expect(patch.headers[.allow] == "POST, GET, HEAD")
            let put = try await client.call(.put, "/reservations/7/checkin")
            #expect(put.status == .methodNotAllowed && put.headers[.allow] == "POST")
        }
    }

    @Test func loginAndItsErrors() async throws {
        try await withService { client, _, _ in
            let ok = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"password123"}"#)
            #expect(ok.status == .ok)
            #expect(ok.json["token_type"] as? String == "Bearer" && ok.json["user_id"] as? Int == 1)
            #expect(ok.json["name"] as? String == "Alice Johnson" && ok.json["role"] as? String == "student")
            #expect((ok.json["expires_at"] as? String).flatMap(RFC3339.parse) == t0 + 24 * 3_600)
            let wrong = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021001","password":"nope-nope"}"#)
            let unknown = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S9999999","password":"nope-nope"}"#)
            #expect(wrong.status == .unauthorized && unknown.status == .unauthorized && wrong.text == unknown.text)
            #expect(try await client.call(.post, "/auth/login", json: "{nope").code == "bad_request")
            #expect(
                try await client.call(.post, "/auth/login", json: #"{"student_id":5,"password":"x"}"#).code
                    == "bad_request")
            #expect(
                try await client.call(.post, "/auth/login", json: #"{"student_id":"S2021001"}"#).code == "bad_request")
            #expect(try await client.call(.post, "/auth/login").code == "bad_request")
            let huge = try await client.call(
                .post, "/auth/login", json: #"{"student_id":""# + String(repeating: "x", count: 70_000) + #""}"#)
            #expect(huge.status == .contentTooLarge && huge.code == "payload_too_large")
            let admin = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"admin","password":"admin-password"}"#)
            #expect(admin.json["role"] as? String == "admin")
        }
    }

    @Test func failedLoginsAreRateLimited() async throws {
        try await withService { client, _, clock in
            for _ in 0..<5 {
                #expect(
                    try await client.call(
                        .post, "/auth/login", json: #"{"student_id":"S2021002","password":"wrong-one"}"#
                    ).status == .unauthorized)
            }
            let limited = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021002","password":"password123"}"#)
            #expect(limited.status == .tooManyRequests && limited.code == "rate_limited")
            #expect(limited.headers[.retryAfter] == "60")
            // Another student from the same address is not limited yet (the address allows 20).
            _ = try await client.login("S2021003")
            clock.advance(by: 61)
            _ = try await client.login("S2021002")
            // Per client address: 20 failures a minute, whatever the student ids.
            for n in 0..<20 {
                let r = try await client.call(
                    .post, "/auth/login", json: #"{"student_id":"X\#(n)","password":"wrong-one"}"#)
                #expect(r.status == .unauthorized)
            }
            let address = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021004","password":"password123"}"#)
            #expect(address.status == .tooManyRequests && address.headers[.retryAfter] != nil)
        }
    }

    @Test func registerAndItsErrors() async throws {
        try await withService { client, service, _ in
            let r = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"S2030001","password":"longenough","name":"Zoe"}"#)
            #expect(r.status == .created && r.json["user_id"] as? Int == 12 && r.json["name"] as? String == "Zoe")
            #expect(service.engine.user(studentID: "S2030001")?.passwordHash.hasPrefix("$2b$04$") == true)
            _ = try await client.login("S2030001", "longenough")
            #expect(
                try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"S2030001","password":"longenough"}"#
                ).code == "duplicate_user")
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"S2030002","password":"short"}"#)
                    .code == "weak_password")
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"a b","password":"longenough"}"#)
                    .code == "bad_request")
        }
    }
}
