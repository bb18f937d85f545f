import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSApp

/// Expects `identity_provider_unavailable` from a sign-in; returns how long it took.
@discardableResult
func expectUnavailable(
    _ directory: LDAPDirectory, username: String = "alice", password: String = "alice-pass-1",
    sourceLocation: SourceLocation = #_sourceLocation
) async -> Duration {
    let start = ContinuousClock.now
    do {
        let identity = try await directory.authenticate(username: username, password: password)
        Issue.record(
            "expected identity_provider_unavailable, got \(String(describing: identity))",
            sourceLocation: sourceLocation)
    } catch let error as AppError {
        #expect(error.code == "identity_provider_unavailable", "\(error)", sourceLocation: sourceLocation)
        #expect(error.kind == .unavailable, sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected AppError, got \(error)", sourceLocation: sourceLocation)
    }
    return ContinuousClock.now - start
}

/// ``expectUnavailable(_:username:password:sourceLocation:)`` on a thread of its own, so that
/// the time measured is the sign-in's, not a wait for a thread of the cooperative pool that the
/// rest of the suite may hold.
func timedUnavailable(_ directory: LDAPDirectory, sourceLocation: SourceLocation = #_sourceLocation) async
    -> Duration
{
    await withTaskExecutorPreference(DedicatedExecutor.shared) {
        await expectUnavailable(directory, sourceLocation: sourceLocation)
    }
}

/// Directories that are down, silent, or not LDAP at all: each sign-in fails as unavailable,
/// within about the timeout (a hang check with a generous bound, not a benchmark).
@Suite struct LDAPFailureTests {
    static func settings(_ url: String, startTLS: Bool = false, timeout: Int = 2) -> LDAPSettings {
        LDAPSettings(
            url: url, startTLS: startTLS, allowPlain: !startTLS, baseDN: "dc=campus,dc=test",
            userFilter: "(uid={username})", timeoutSeconds: timeout)
    }

    /// Names and passwords refused before any connection is made.
    @Test func passwordsAndNamesThatAreNeverSent() {
        #expect(LDAPDirectory.acceptable(username: "alice", password: "x"))
        #expect(!LDAPDirectory.acceptable(username: "alice", password: ""))
        #expect(!LDAPDirectory.acceptable(username: "alice", password: "a\0b"))
        #expect(LDAPDirectory.acceptable(username: "alice", password: String(repeating: "é", count: 512)))
        #expect(!LDAPDirectory.acceptable(username: "alice", password: String(repeating: "é", count: 513)))
        #expect(!LDAPDirectory.acceptable(username: "", password: "x"))
        #expect(!LDAPDirectory.acceptable(username: String(repeating: "a", count: 257), password: "x"))
    }

    /// A refused connection fails at once, not after the (here long) timeout.
    @Test func aClosedPortFailsFast() async throws {
        let port = try closedLoopbackPort()
        let directory = try LDAPDirectory(settings: Self.settings("ldap://127.0.0.1:\(port)", timeout: 30))
        let took = await timedUnavailable(directory)
        #expect(took < .seconds(5))
    }

    /// The timeout is 2 s; a hang would be for ever (ldaps:// with libldap's own network timeout:
    /// a spin of minutes).
    @Test(arguments: ["plain", "StartTLS", "ldaps"])
    func aSilentServerFailsWithinTheTimeout(transport: String) async throws {
        let stub = try TCPStub(.silent)
        defer { stub.stop() }
        let url = transport == "ldaps" ? "ldaps://127.0.0.1:\(stub.port)" : stub.url
        let directory = try LDAPDirectory(settings: Self.settings(url, startTLS: transport == "StartTLS"))
        let took = await timedUnavailable(directory)
        #expect(took < .seconds(2 + 5), "\(transport): \(took)")
        #expect(took >= .seconds(1), "\(transport): it failed before any timeout (\(took))")
    }

    @Test func garbageIsUnavailable() async throws {
        let reply = "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 100\r\n\r\n"
        let stub = try TCPStub(.garbage(Array((reply + String(repeating: "?", count: 100)).utf8)))
        defer { stub.stop() }
        let directory = try LDAPDirectory(settings: Self.settings(stub.url))
        let took = await timedUnavailable(directory)
        #expect(took < .seconds(2 + 5))
    }

    /// A server that resets the connection: libldap's write(2) would raise SIGPIPE and end the
    /// process if the sign-in's threads did not block it.
    @Test func aResetIsUnavailableAndTheProcessLives() async throws {
        let stub = try TCPStub(.reset)
        defer { stub.stop() }
        for startTLS in [false, true] {
            let directory = try LDAPDirectory(settings: Self.settings(stub.url, startTLS: startTLS))
            for _ in 0..<3 { await expectUnavailable(directory) }
        }
    }

    /// One thread and one place in line: while two sign-ins hang on a silent server, a third is
    /// refused at once ("busy").
    @Test func beyondTheQueueIsBusy() async throws {
        let stub = try TCPStub(.silent)
        defer { stub.stop() }
        var settings = Self.settings(stub.url, timeout: 30)
        settings.maxConcurrent = 1
        settings.queueLimit = 1
        let directory = try LDAPDirectory(settings: settings)
        let hanging = (0..<2).map { _ in
            Task { try? await directory.authenticate(username: "alice", password: "alice-pass-1") }
        }
        let deadline = ContinuousClock.now + .seconds(10)
        while directory.inFlight < 2 && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        #expect(directory.inFlight == 2)
        do {
            _ = try await directory.authenticate(username: "bob", password: "bob-pass-1")
            Issue.record("a third sign-in was admitted")
        } catch let error as AppError {
            #expect(error.code == "identity_provider_unavailable")
            #expect(error.message.hasSuffix("busy"))
        }
        // Refused while the two others still hang (for 30 s unless the server goes away).
        #expect(directory.inFlight == 2)
        stub.stop()  // resets the connections waiting in its queue
        for task in hanging { #expect(await task.value == nil) }
        #expect(directory.inFlight == 0)
    }
}
