import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

/// The audit trail of a real server: it survives kill -9 with every acknowledged entry, and
/// `dlsms audit verify` checks it offline and names the first broken entry of a tampered copy.
@Suite(.serialized) struct AuditEndToEndTests {
    @Test func everyAcknowledgedEntrySurvivesKillNineAndTheChainVerifies() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let server = try ServerProcess(dataDirectory: dir + "/data")
        try await server.waitUntilListening()
        let admin = try await server.login("admin", "admin-password")
        // Staff actions in parallel; the server is killed while they are in flight.
        let acknowledged = Counter()
        await withTaskGroup(of: Void.self) { group in
            for i in 0..<60 {
                group.addTask {
                    let user = 1 + i % 10
                    if let (status, _) = try? await server.request(
                        "POST", "/admin/users/\(user)/revoke-sessions", token: admin), status == 200
                    {
                        acknowledged.add()
                    }
                }
            }
            group.addTask {
                while acknowledged.value < 20 { try? await Task.sleep(for: .milliseconds(2)) }
                server.child.signal(SIGKILL)
            }
        }
        _ = await server.child.waitForExit(timeout: 10)
        let acked = acknowledged.value
        #expect(acked >= 20)

        // Offline, the log as the crash left it: the chain holds, with every acknowledged entry.
        let offline = try await runDLSMS(["audit", "verify", "--data-dir", dir + "/data"])
        #expect(offline.status == 0 && offline.output.hasPrefix("OK:"), "\(offline)")
        let restarted = try ServerProcess(dataDirectory: dir + "/data")
        try await restarted.waitUntilListening()
        let again = try await restarted.login("admin", "admin-password")
        let (_, page) = try await restarted.request(
            "GET", "/admin/audit?kind=account.sessions_revoked&limit=200", token: again)
        let revoked = (page["entries"] as? [[String: Any]])?.count ?? 0
        #expect(revoked >= acked && revoked <= 60, "acknowledged \(acked), kept \(revoked)")

        // An exported copy verifies; a changed byte, a removed entry and a reordered pair do not,
        // and the first broken entry is named.
        let csvPath = dir + "/audit.csv"
        let csv = try #require(await csvText(restarted, token: again))
        try csv.write(toFile: csvPath, atomically: true, encoding: .utf8)
        let good = try await runDLSMS(["audit", "verify", csvPath])
        #expect(good.status == 0 && good.output.contains("OK:"), "\(good)")
        var lines = csv.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        #expect(lines.count >= acked + 3)  // the header, two sign-ins, the revocations
        func verdict(_ changed: [String]) async throws -> String {
            try (changed.joined(separator: "\r\n") + "\r\n").write(toFile: csvPath, atomically: true, encoding: .utf8)
            let r = try await runDLSMS(["audit", "verify", csvPath])
            #expect(r.status == 1, "\(r)")
            return r.output
        }
        var tampered = lines
        tampered[5] = tampered[5].replacingOccurrences(of: "user:", with: "user:9")
        let fifth = try await verdict(tampered)
        #expect(fifth.contains("entry 5 ") && fifth.contains("changed"))
        tampered = lines
        tampered.remove(at: 7)
        let eighth = try await verdict(tampered)
        #expect(eighth.contains("entry 8 ") && eighth.contains("entry 7 is missing"))
        lines.swapAt(3, 4)
        let swapped = try await verdict(lines)
        #expect(swapped.contains("entry 4 (the 3rd checked)") && swapped.contains("out of order"), "\(swapped)")
        _ = await restarted.stopped()
    }

    func csvText(_ server: ServerProcess, token: String) async throws -> String? {
        let answer = try await fetch(server.base + "/admin/audit.csv", headers: ["Authorization": "Bearer \(token)"])
        guard answer.status == 200 else { return nil }
        return String(data: answer.body, encoding: .utf8)
    }
}

final class Counter: Sendable {
    private let count = Mutex(0)
    var value: Int { count.withLock { $0 } }
    func add() { count.withLock { $0 += 1 } }
}
