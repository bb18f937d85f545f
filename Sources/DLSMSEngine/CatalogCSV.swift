import DLSMSCore
import Foundation
import SwiftCSV

/// The catalog as CSV (RFC 4180, parsed with SwiftCSV): one row per seat,
/// `branch,area,seat_label,has_power,has_monitor,accessible,x,y`.
///
/// An import checks every row first and applies nothing if any is wrong, naming each wrong line.
/// It then creates the branches it names that do not exist yet (UTC, open around the clock; set
/// their hours afterwards), the new areas, and the seats: a seat is matched by branch and label
/// (as exported: the label people see), so importing the same file twice changes nothing, and
/// re-importing an export gives the same catalog back.
public enum CatalogCSV {
    public static let header = ["branch", "area", "seat_label", "has_power", "has_monitor", "accessible", "x", "y"]
    public static let maxRows = 100_000
    /// The largest upload the admin endpoint takes.
    public static let maxUploadBytes = 8 << 20

    public struct Row: Sendable, Hashable {
        public var line: Int
        public var branch: String
        public var area: String
        public var label: String
        public var hasPower: Bool
        public var hasMonitor: Bool
        public var accessible: Bool
        public var x: Int32?
        public var y: Int32?
    }

    /// Every problem of a file, one per line, with its line number.
    public struct Problems: Error, CustomStringConvertible, Sendable {
        public var lines: [String]
        public var description: String { lines.prefix(20).joined(separator: "; ") + (lines.count > 20 ? "; …" : "") }
    }

    public struct Outcome: Sendable, Hashable {
        public var branchesCreated = 0
        public var seatsCreated = 0
        public var seatsUpdated = 0
    }

    // MARK: - Reading

    /// The rows of `text`, each checked; all problems at once.
    public static func parse(_ text: String) throws(Problems) -> [Row] {
        let csv: EnumeratedCSV
        do {
            csv = try EnumeratedCSV(string: text, delimiter: .comma, loadColumns: false)
        } catch {
            throw Problems(lines: ["the file is not valid CSV (\(error))"])
        }
        guard csv.header.map({ $0.trimmingCharacters(in: .whitespaces) }) == header else {
            throw Problems(lines: ["line 1: the header must be \(header.joined(separator: ","))"])
        }
        guard csv.rows.count <= maxRows else { throw Problems(lines: ["more than \(maxRows) rows"]) }
        let lines = recordLines(text)
        var rows: [Row] = []
        var problems: [String] = []
        var seen: [String: Int] = [:]
        for (i, fields) in csv.rows.enumerated() {
            let line = i + 1 < lines.count ? lines[i + 1] : i + 2
            do throws(EngineError) {
                let row = try self.row(fields, line: line)
                let key = row.branch + "\u{0}" + row.label
                if let first = seen[key] {
                    throw .badRequest("seat '\(row.label)' of \(row.branch) is on line \(first) already")
                }
                seen[key] = line
                rows.append(row)
            } catch {
                problems.append("line \(line): \(error.message)")
            }
        }
        guard problems.isEmpty else { throw Problems(lines: problems) }
        return rows
    }

    static func row(_ fields: [String], line: Int) throws(EngineError) -> Row {
        // SwiftCSV pads short rows to the longest one: only non-empty extra fields are an error.
        let used = (fields.lastIndex { !$0.isEmpty } ?? -1) + 1
        guard used <= header.count else { throw .badRequest("\(used) fields; a row has \(header.count)") }
        func field(_ i: Int) -> String {
            i < fields.count ? unneutralised(fields[i].trimmingCharacters(in: .whitespaces)) : ""
        }
        let branch = field(0)
        try Branch.validateName(branch)
        try Seat.validateArea(field(1))
        try BookingRules.validateText(field(2), field: "seat_label", maxBytes: 64, required: true, identifier: true)
        func flag(_ i: Int) throws(EngineError) -> Bool {
            switch field(i).lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no", "": return false
            default: throw .badRequest("\(header[i]) must be true or false, not '\(field(i).prefix(40))'")
            }
        }
        func coordinate(_ i: Int) throws(EngineError) -> Int32? {
            let text = field(i)
            if text.isEmpty { return nil }
            guard let v = Int32(text), (0...10_000).contains(v) else {
                throw .badRequest("\(header[i]) must be empty or 0…10000, not '\(text.prefix(40))'")
            }
            return v
        }
        return Row(
            line: line, branch: branch, area: field(1), label: field(2), hasPower: try flag(3),
            hasMonitor: try flag(4), accessible: try flag(5), x: try coordinate(6), y: try coordinate(7))
    }

    /// The line each record starts on (record 0 is the header), skipping blank lines, with line
    /// breaks inside quoted fields counted.
    static func recordLines(_ text: String) -> [Int] {
        var starts: [Int] = []
        var line = 1
        var inQuotes = false
        var atStart = true
        var blank = true
        var recordLine = 1
        for ch in text {
            if atStart {
                recordLine = line
                atStart = false
                blank = true
            }
            if ch == "\"" { inQuotes.toggle() }
            if ch.isNewline {
                line += 1
                if !inQuotes {
                    if !blank { starts.append(recordLine) }
                    atStart = true
                }
                continue
            }
            if !ch.isWhitespace { blank = false }
        }
        if !atStart && !blank { starts.append(recordLine) }
        return starts
    }

    // MARK: - Applying

    /// New seats recorded per turn of the shards.
    static let batch = 4_096

    public static func apply(_ rows: [Row], to engine: SeatEngine) async throws(EngineError) -> Outcome {
        var outcome = Outcome()
        // Every branch's areas within bounds once the rows are in, checked before anything is
        // applied (the rows are applied in batches: a refusal part-way would leave some in).
        var areas: [String: Set<String>] = [:]
        for row in rows { areas[row.branch, default: []].insert(row.area) }
        for (name, wanted) in areas {
            let existing = engine.branch(named: name)?.areas ?? []
            if existing.count + wanted.subtracting(existing).count > Branch.maxAreas {
                throw .badRequest("\(name) would have more than \(Branch.maxAreas) areas: put its seats in fewer")
            }
        }
        for name in Set(rows.map(\.branch)) where engine.branch(named: name) == nil {
            do {
                try await engine.create(branch: Branch(name: name, areas: []))
                outcome.branchesCreated += 1
            } catch .duplicateBranch {
                // Created meanwhile: fine.
            }
        }
        var existing: [String: SeatID] = [:]
        for view in await engine.searchSeats(SeatFilter(availableOnly: false)) {
            existing[view.seat.branch + "\u{0}" + view.seat.displayLabel] = view.seat.id
        }
        var created: [Seat] = []
        for row in rows {
            if let id = existing[row.branch + "\u{0}" + row.label] {
                _ = try await engine.update(seat: id) { seat in
                    seat.area = row.area
                    seat.label = row.label
                    seat.hasPower = row.hasPower
                    seat.hasMonitor = row.hasMonitor
                    seat.accessible = row.accessible
                    seat.x = row.x
                    seat.y = row.y
                }
                outcome.seatsUpdated += 1
            } else {
                created.append(
                    Seat(
                        id: 0, branch: row.branch, area: row.area, hasPower: row.hasPower, hasMonitor: row.hasMonitor,
                        label: row.label, accessible: row.accessible, x: row.x, y: row.y))
            }
        }
        // New seats in batches: one turn of each shard and one wait for durability per batch.
        var next = created.startIndex
        while next < created.endIndex {
            let batch = created[next..<min(next + Self.batch, created.endIndex)]
            _ = try await engine.create(seats: Array(batch))
            outcome.seatsCreated += batch.count
            next = batch.endIndex
        }
        return outcome
    }

    // MARK: - Writing

    /// Every seat still in the library, by id.
    public static func export(_ engine: SeatEngine) async -> String {
        var out = header.joined(separator: ",") + "\r\n"
        for view in await engine.searchSeats(SeatFilter(availableOnly: false)) {
            let s = view.seat
            let fields = [
                s.branch, s.area, s.displayLabel, String(s.hasPower), String(s.hasMonitor), String(s.accessible),
                s.x.map(String.init) ?? "", s.y.map(String.init) ?? "",
            ]
            out += fields.map(cell).joined(separator: ",") + "\r\n"
        }
        return out
    }

    /// What a cell a spreadsheet would take for a formula starts with (OWASP, CSV injection).
    static let formulaLeads: Set<Unicode.Scalar> = ["=", "+", "-", "@", "\t", "\r"]

    /// A text cell of every CSV this service writes (the catalog, the reports; the reservations
    /// export has none): quoted per RFC 4180, and one starting like a formula (``formulaLeads``)
    /// prefixed with an apostrophe.
    public static func cell(_ text: String) -> String {
        guard let first = text.unicodeScalars.first, formulaLeads.contains(first) else {
            return quoted(text)
        }
        return quoted("'" + text)
    }

    /// A cell as the import reads it: the apostrophe ``cell(_:)`` put before a formula's first
    /// character is taken off again, so that an exported catalog imports as it was.
    static func unneutralised(_ text: String) -> String {
        guard text.hasPrefix("'"), let second = text.unicodeScalars.dropFirst().first, formulaLeads.contains(second)
        else { return text }
        return String(text.dropFirst())
    }

    /// A field as RFC 4180 writes it: quoted when it holds a comma, a quote or a line break.
    public static func quoted(_ field: String) -> String {
        guard field.contains(where: { $0 == "," || $0 == "\"" || $0.isNewline }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
