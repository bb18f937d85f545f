import DLSMSCore
import Foundation
import SwiftCSV

/// The audit trail as CSV (RFC 4180): `GET /admin/audit.csv` writes it and `dlsms audit verify
/// FILE.csv` reads it back, field for field, so an exported trail can be checked offline.
///
/// A cell that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`, `@`, a tab or
/// a carriage return), or that starts with an apostrophe, gets one apostrophe in front; reading
/// takes exactly one off again.
public enum AuditCSV {
    public static let header = "seq,at,actor_id,actor,address,kind,subject,reason,before,after,prev_hash,hash"

    public static func line(_ e: AuditEntry, hex: ([UInt8]) -> String) -> String {
        [
            String(e.seq), RFC3339.format(e.at), String(e.actorID), cell(e.actor), cell(e.address), cell(e.kind),
            cell(e.subject), cell(e.reason), cell(e.before), cell(e.after), hex(e.previousHash), hex(e.hash),
        ].joined(separator: ",") + "\r\n"
    }

    static func cell(_ text: String) -> String {
        guard let first = text.unicodeScalars.first else { return "" }
        let neutralised = "=+-@\t\r'".unicodeScalars.contains(first) ? "'" + text : text
        // A cell with white space at either end is quoted, so that a reader keeps it.
        let padded = first.properties.isWhitespace || text.unicodeScalars.last!.properties.isWhitespace
        return padded ? quote(neutralised) : CatalogCSV.quoted(neutralised)
    }

    private static func quote(_ text: String) -> String {
        "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    static func uncell(_ text: String) -> String { text.hasPrefix("'") ? String(text.dropFirst()) : text }

    public struct Problem: Error, CustomStringConvertible {
        public var description: String
    }

    /// The entries of an exported CSV, in the file's order.
    public static func parse(_ text: String, bytes: (Substring) -> [UInt8]?) throws(Problem) -> [AuditEntry] {
        let csv: EnumeratedCSV
        do {
            csv = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw Problem(description: "not CSV: \(error)")
        }
        guard csv.header.joined(separator: ",") == header else {
            throw Problem(description: "the first line is not the audit header (\(header))")
        }
        var entries: [AuditEntry] = []
        for (i, row) in csv.rows.enumerated() {
            let line = i + 2
            if row.allSatisfy(\.isEmpty) { continue }
            guard row.count >= 12, let seq = UInt64(row[0]), let at = RFC3339.parse(row[1]),
                let actorID = UserID(row[2]), let previous = bytes(Substring(row[10])),
                let hash = bytes(Substring(row[11])),
                previous.count == AuditEntry.hashBytes, hash.count == AuditEntry.hashBytes
            else { throw Problem(description: "line \(line): not an audit entry") }
            entries.append(
                AuditEntry(
                    seq: seq, at: at, actorID: actorID, actor: uncell(row[3]), address: uncell(row[4]),
                    kind: uncell(row[5]), subject: uncell(row[6]), reason: uncell(row[7]), before: uncell(row[8]),
                    after: uncell(row[9]), previousHash: previous, hash: hash))
        }
        return entries
    }
}
