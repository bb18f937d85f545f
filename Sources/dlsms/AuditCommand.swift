import ArgumentParser
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSStorage
import Foundation

/// `dlsms audit …`: the audit trail of staff actions, offline.
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Check and export the audit trail of staff actions (offline).",
        subcommands: [Verify.self, Export.self])

    /// The entries of a data directory (its newest valid snapshot, then its WAL), or of a CSV export.
    static func entries(dataDir: String, csv: String?) throws -> (entries: [AuditEntry], source: String) {
        if let csv {
            guard let data = FileManager.default.contents(atPath: csv), let text = String(data: data, encoding: .utf8)
            else { throw fail("\(csv): not a readable UTF-8 file") }
            do {
                return (try AuditCSV.parse(text) { AuditChain.bytes(hex: $0) }, csv)
            } catch {
                throw fail("\(csv): \(error)")
            }
        }
        let state: RecoveredState
        do {
            state = try DataDirectory(path: dataDir).recover(repairTornTail: false)
        } catch {
            throw fail("\(dataDir): \(error)")
        }
        guard state.snapshot != nil || !state.records.isEmpty else {
            throw fail("\(dataDir): not a data directory (no snapshot, no write-ahead log)")
        }
        // A snapshot holds the trail as it was; the log after it, the entries made since. An entry
        // in both, the same (a snapshot taken while it was written), is taken once; everything
        // else is taken in the files' order, for the check to judge.
        var entries: [AuditEntry] = []
        var inSnapshot: [UInt64: AuditEntry] = [:]
        for case .audit(let e) in state.snapshotRecords {
            entries.append(e)
            inSnapshot[e.seq] = e
        }
        for r in state.records {
            guard case .audit(let e) = r.record, inSnapshot[e.seq] != e else { continue }
            entries.append(e)
        }
        return (entries, dataDir)
    }

    struct Verify: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract:
                "Check the hash chain: each entry's hash, each previous_hash, numbers without gaps. Names the first broken entry (exit 1)."
        )
        @Option(name: .customLong("data-dir"), help: "The data directory (default: snapshots).")
        var dataDir: String?
        @Argument(
            help: "An exported audit.csv (GET /admin/audit.csv, unfiltered) to check instead of a data directory.")
        var csv: String?
        @Flag(help: "Refuse a trail that does not start at entry 1 (none has left by the retention yet).")
        var complete = false

        func validate() throws {
            if dataDir != nil && csv != nil { throw ValidationError("check a data directory or a CSV file, not both") }
        }

        func run() async throws {
            let (entries, source) = try AuditCommand.entries(dataDir: dataDir ?? "snapshots", csv: csv)
            if let broken = AuditChain.verify(entries) {
                print("BROKEN: \(source): \(broken)")
                throw ExitCode(1)
            }
            guard let first = entries.first, let last = entries.last else {
                print("\(source): the audit trail is empty")
                return
            }
            if first.seq > 1 && complete {
                print("BROKEN: \(source): entries 1…\(first.seq - 1) are not there (--complete)")
                throw ExitCode(1)
            }
            let anchor =
                first.seq == 1
                ? "from the start"
                : "from entry \(first.seq), anchored by its previous_hash: entries 1…\(first.seq - 1) are not in this copy (the retention removes those older than --audit-retention-days; compare with an earlier copy if yours are younger)"
            print(
                "OK: \(source): \(entries.count) entries, \(first.seq)…\(last.seq), \(anchor); last hash \(AuditChain.hex(last.hash))"
            )
        }
    }

    struct Export: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the audit trail of a data directory as CSV (the format of GET /admin/audit.csv).")
        @OptionGroup var options: DataDirOption

        func run() async throws {
            let (entries, _) = try AuditCommand.entries(dataDir: options.dataDir, csv: nil)
            var out = AuditCSV.header + "\r\n"
            for e in entries { out += AuditCSV.line(e, hex: AuditChain.hex) }
            FileHandle.standardOutput.write(Data(out.utf8))
        }
    }
}
