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

@Suite struct LoginAbuseTests {
    @Test func concurrentWrongPasswordsAreEvaluatedAtMostFiveTimes() async throws {
        // The hash queue's per-client share is lifted: here the login limit alone must hold.
        try await withService(Configure { $0.limits.hashesPerClient = 100 }) { client, service, _ in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.Status.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        try await client.call(
                            .post, "/auth/login", json: #"{"student_id":"S2021002","password":"wrong-one"}"#
                        ).status
                    }
                }
                return try await group.reduce(into: [HTTPResponse.Status]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == .unauthorized }.count == 5)
            #expect(statuses.filter { $0 == .tooManyRequests }.count == 45)
            #expect(service.loginLimiter.count("id:S2021002", now: t0) == 5)
            // Even the right password now waits for the window.
            let right = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"S2021002","password":"password123"}"#)
            #expect(right.status == .tooManyRequests && right.headers[.retryAfter] != nil)
        }
    }

    @Test func aSuccessClearsTheStudentsFailures() async throws {
        try await withService { client, service, _ in
            for _ in 0..<4 {
                _ = try await client.call(
                    .post, "/auth/login", json: #"{"student_id":"S2021003","password":"bad-bad"}"#)
            }
            _ = try await client.login("S2021003")
            #expect(service.loginLimiter.count("id:S2021003", now: t0) == 0)
            // Invalid student ids get no key of their own (only the address counts).
            _ = try await client.call(
                .post, "/auth/login", json: #"{"student_id":"\#(String(repeating: "x", count: 65))","password":"x"}"#)
            #expect(service.loginLimiter.size == 1)
        }
    }

    @Test func registrationIsLimitedPerAddressAndCanBeTurnedOff() async throws {
        try await withService(Configure { $0.limits.registrationsPerAddressPerHour = 3 }) { client, _, clock in
            for i in 0..<3 {
                let r = try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"new\#(i)","password":"long-enough"}"#)
                #expect(r.status == .created)
            }
            let fourth = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"new9","password":"long-enough"}"#)
            #expect(fourth.status == .tooManyRequests && fourth.code == "rate_limited")
            #expect(fourth.headers[.retryAfter] == "3600")
            clock.advance(by: 3_600)
            #expect(
                try await client.call(
                    .post, "/auth/register", json: #"{"student_id":"new9","password":"long-enough"}"#
                ).status == .created)
        }
        try await withService(Configure { $0.selfRegistration = false }) { client, _, _ in
            let r = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"new1","password":"long-enough"}"#)
            #expect(r.status == .forbidden && r.code == "registration_closed")
        }
    }

    @Test func aDuplicateRegistrationCostsAHashLikeARealOne() async throws {
        try await withService(Configure { $0.limits.registrationsPerAddressPerHour = 2 }) { client, service, _ in
            // A duplicate is found only after the hash: it is not a free probe for existing accounts,
            // and it counts against the address like any registration.
            let dup = try await client.call(
                .post, "/auth/register", json: #"{"student_id":"S2021001","password":"long-enough"}"#)
            #expect(dup.status == .conflict && dup.code == "duplicate_user")
            #expect(service.registrationLimiter.count("reg:local", now: t0) == 1)
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"x1","password":"long-enough"}"#)
                    .status == .created)
            #expect(
                try await client.call(.post, "/auth/register", json: #"{"student_id":"x2","password":"long-enough"}"#)
                    .status == .tooManyRequests)
        }
    }
}
