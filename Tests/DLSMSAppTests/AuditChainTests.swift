import DLSMSCore
import DLSMSEngine
import Testing

@testable import DLSMSApp

/// The audit chain and its CSV: a trail written as CSV reads back field for field, whatever the
/// fields hold, and the check names the first broken entry.
@Suite struct AuditChainTests {
    static func chain(_ fields: [(reason: String, before: String)]) -> [AuditEntry] {
        var previous = AuditEntry.genesis
        return fields.enumerated().map { i, f in
            var e = AuditEntry(
                seq: UInt64(i + 1), at: 1_760_184_000 + Int64(i), actorID: 11, actor: "admin", address: "127.0.0.1",
                kind: "account.disabled", subject: "user:\(i + 2)", reason: f.reason, before: f.before,
                after: #"{"disabled":true}"#, previousHash: previous)
            e.hash = AuditChain.hash(e)
            previous = e.hash
            return e
        }
    }

    @Test func everyFieldSurvivesTheCSV() throws {
        let awkward = [
            " plain", "plain ", "\u{00A0}nbsp", "ideographic\u{3000}", "\ttab", "=1+2", "+1", "-1", "@sum", "'quoted",
            "''two", "a,b", "say \"hi\"", "two\nlines", "cr\r\nlf", "", " ", "😀 émoji", "'", "=", " =x", "'  ", "=  ",
            "\t",
        ]
        let entries = Self.chain(awkward.map { ($0, $0.isEmpty ? "" : #"{"note":"\#($0)"}"#) })
        var csv = AuditCSV.header + "\r\n"
        for e in entries { csv += AuditCSV.line(e, hex: AuditChain.hex) }
        let parsed = try AuditCSV.parse(csv) { AuditChain.bytes(hex: $0) }
        #expect(parsed.count == entries.count)
        for (a, b) in zip(parsed, entries) { #expect(a == b, "\(b.reason.debugDescription)") }
        #expect(AuditChain.verify(parsed) == nil)
        // A spreadsheet formula never leads a cell.
        for line in csv.split(separator: "\r\n").dropFirst() {
            for lead in ["=", "+", "-", "@"] { #expect(!line.contains(",\(lead)"), "\(line)") }
        }
    }

    @Test func theCheckNamesTheFirstBrokenEntry() {
        let entries = Self.chain((0..<6).map { ("r\($0)", "") })
        #expect(AuditChain.verify(entries) == nil)
        var changed = entries
        changed[2].reason = "r2!"
        #expect(AuditChain.verify(changed)?.seq == 3)
        var removed = entries
        removed.remove(at: 3)
        let gap = AuditChain.verify(removed)
        #expect(gap?.seq == 5 && gap?.reason.contains("entry 4 is missing") == true, "\(String(describing: gap))")
        var swapped = entries
        swapped.swapAt(1, 2)
        let order = AuditChain.verify(swapped)
        #expect(order?.seq == 3 && order?.reason.contains("out of order") == true, "\(String(describing: order))")
        // Rewriting an entry with a fresh hash breaks the link of the next one.
        var rehashed = entries
        rehashed[2].reason = "forged"
        rehashed[2].hash = AuditChain.hash(rehashed[2])
        #expect(AuditChain.verify(rehashed)?.seq == 4)
        // A trail that starts later (the retention) is anchored by its first previous hash.
        #expect(AuditChain.verify(Array(entries.dropFirst(2))) == nil)
        var forgedStart = entries
        forgedStart[0].previousHash = [UInt8](repeating: 1, count: 32)
        forgedStart[0].hash = AuditChain.hash(forgedStart[0])
        #expect(AuditChain.verify(forgedStart)?.seq == 1)
    }
}
