import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import HummingbirdCore

// MARK: - Request parsing

package struct Credentials: Decodable {
    package var studentId: String?
    package var password: String?
    package var name: String?
    package var role: String?
}

package struct PasswordChange: Decodable {
    package var currentPassword: String?
    package var newPassword: String?
    package var password: String?
}

/// A body whose coding keys are the JSON's own names: ``Request/decodeJSON(_:)`` decodes it
/// without the decoder's snake-case conversion of every key (which the others rely on).
package protocol JSONNamedKeys: Decodable {
    /// The value of a body that ``FlatJSON`` reads, or nil to decode it with `JSONDecoder`.
    static func flat(_ members: [(key: String, value: FlatJSON.Value)]) -> Self?
}

extension JSONNamedKeys {
    package static func flat(_ members: [(key: String, value: FlatJSON.Value)]) -> Self? { nil }
}

/// The hot path's body: its keys are spelled out (``JSONNamedKeys``).
package struct BookingBody: JSONNamedKeys {
    package var seatId: Int64?
    package var startTime: String?
    package var endTime: String?
    /// Staff only: the student booked for, and whether their policy is overridden.
    package var userId: Int64?
    package var override: Bool?

    package enum CodingKeys: String, CodingKey {
        case seatId = "seat_id"
        case startTime = "start_time"
        case endTime = "end_time"
        case userId = "user_id"
        case override
    }

    /// Its three members when they have the types `Decodable` expects; an unknown key (which
    /// `JSONDecoder` would skip whatever its value) is left to `JSONDecoder` too.
    package static func flat(_ members: [(key: String, value: FlatJSON.Value)]) -> BookingBody? {
        var body = BookingBody()
        for (key, value) in members {
            switch (key, value) {
            case ("seat_id", .integer(let v)): body.seatId = v
            case ("start_time", .string(let v)): body.startTime = v
            case ("end_time", .string(let v)): body.endTime = v
            default: return nil
            }
        }
        return body
    }
}

package struct WaitlistBody: Decodable {
    package var seatId: Int64?
    package var branch: String?
    package var desiredTime: String?
    package var endTime: String?
}

package struct MaintenanceBody: Decodable {
    package var maintenance: Bool?
}

/// `POST /admin/branches`: a new branch, its areas, time zone and hours (defaults: none, UTC, always open).
package struct BranchBody: Decodable {
    package var name: String?
    package var areas: [String]?
    package var timeZone: String?
    package var hours: HoursBody.Hours?

    package func branch() throws(APIError) -> Branch {
        guard let name else { throw APIError.badRequest("name is required") }
        try checked { () throws(EngineError) in try Branch.validateName(name) }
        let areas = areas ?? []
        guard areas.count <= 200, Set(areas).count == areas.count else {
            throw APIError.badRequest("areas: at most 200, each once")
        }
        for a in areas { try checked { () throws(EngineError) in try Seat.validateArea(a) } }
        let zone = try HoursBody.zone(timeZone ?? "UTC")
        let hours = try HoursBody(timeZone: zone, hours: self.hours ?? .always).openingHours()
        return Branch(name: name, areas: areas, timeZone: zone, openingHours: hours)
    }
}

/// `POST /admin/seats` and `PATCH /admin/seats/{id}`: every field but `branch` may change; a
/// creation needs `branch` and `area`.
package struct SeatBody: Decodable {
    package var id: Int64?
    package var branch: String?
    package var area: String?
    package var label: String?
    package var hasPower: Bool?
    package var hasMonitor: Bool?
    package var accessible: Bool?
    package var notes: String?
    package var x: Int64?
    package var y: Int64?
    /// `"x": null` clears the position (a missing key keeps it).
    package var clearsX = false
    package var clearsY = false

    package enum CodingKeys: String, CodingKey {
        case id, branch, area, label, hasPower, hasMonitor, accessible, notes, x, y
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        id = try c.decodeIfPresent(Int64.self, forKey: .id)
        branch = try c.decodeIfPresent(String.self, forKey: .branch)
        area = try c.decodeIfPresent(String.self, forKey: .area)
        label = try c.decodeIfPresent(String.self, forKey: .label)
        hasPower = try c.decodeIfPresent(Bool.self, forKey: .hasPower)
        hasMonitor = try c.decodeIfPresent(Bool.self, forKey: .hasMonitor)
        accessible = try c.decodeIfPresent(Bool.self, forKey: .accessible)
        notes = try c.decodeIfPresent(String.self, forKey: .notes)
        x = try c.decodeIfPresent(Int64.self, forKey: .x)
        y = try c.decodeIfPresent(Int64.self, forKey: .y)
        clearsX = try c.contains(.x) && c.decodeNil(forKey: .x)
        clearsY = try c.contains(.y) && c.decodeNil(forKey: .y)
    }

    /// Checks every given field; the map position is 0…10000 on each axis.
    package func validate() throws(APIError) {
        try checked { () throws(EngineError) in
            if let area { try Seat.validateArea(area) }
            if let label { try BookingRules.validateText(label, field: "label", maxBytes: 64, identifier: true) }
            if let notes { try BookingRules.validateText(notes, field: "notes", maxBytes: 500) }
        }
        for (name, v) in [("x", x), ("y", y)] {
            if let v, !(0...10_000).contains(v) { throw APIError.badRequest("\(name) must be 0…10000") }
        }
    }

    /// The given fields applied to `seat`.
    package func apply(to seat: inout Seat) {
        if let area { seat.area = area }
        if let label { seat.label = label }
        if let hasPower { seat.hasPower = hasPower }
        if let hasMonitor { seat.hasMonitor = hasMonitor }
        if let accessible { seat.accessible = accessible }
        if let notes { seat.notes = notes }
        if let x { seat.x = Int32(x) } else if clearsX { seat.x = nil }
        if let y { seat.y = Int32(y) } else if clearsY { seat.y = nil }
    }
}

/// An engine refusal of a request's value as the contract's 400.
package func checked(_ body: () throws(EngineError) -> Void) throws(APIError) {
    do { try body() } catch { throw APIError(error) }
}

/// `PUT /admin/branches/{name}/hours`: `{"time_zone": "Europe/Berlin", "hours": {"monday":
/// ["08:00-12:00", "13:00-22:00"], …, "sunday": []}}`, or `"hours": "always"`.
package struct HoursBody: Decodable {
    package enum Hours: Decodable {
        case always
        case weekly([String: [String]])

        package init(from decoder: any Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let text = try? c.decode(String.self) {
                guard text == "always" else {
                    throw DecodingError.dataCorruptedError(in: c, debugDescription: "hours: \"always\" or per weekday")
                }
                self = .always
            } else {
                self = .weekly(try c.decode([String: [String]].self))
            }
        }
    }
    package var timeZone: String?
    package var hours: Hours?

    /// An IANA time zone identifier (or UTC), as given.
    package static func zone(_ zone: String) throws(APIError) -> String {
        // A name of the platform's time zone database (tzdata): "Europe/Berlin", "Etc/UTC",
        // "EST5EDT"; not an offset such as "GMT+5" or "+02:00".
        let looksLikeOffset =
            zone.hasPrefix("GMT+") || zone.hasPrefix("GMT-") || zone.hasPrefix("UTC+")
            || zone.hasPrefix("UTC-") || zone.hasPrefix("+") || zone.hasPrefix("-")
        let allowed = zone.utf8.allSatisfy {
            $0 < 128
                && ($0 == 0x2F || $0 == 0x5F || $0 == 0x2D || $0 == 0x2B
                    || (0x30...0x39).contains($0) || (0x41...0x5A).contains($0) || (0x61...0x7A).contains($0))
        }
        guard
            zone == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(zone)
                || (allowed && !looksLikeOffset && zone.utf8.count <= 64 && TimeZone(identifier: zone) != nil)
        else {
            throw APIError.badRequest("time_zone: '\(zone.prefix(60))' is not an IANA time zone (e.g. Europe/Berlin)")
        }
        return zone
    }

    /// The opening hours it describes; every weekday must be named (an empty list: closed).
    package func openingHours() throws(APIError) -> OpeningHours {
        switch hours {
        case nil: throw APIError.badRequest("hours is required: \"always\", or a list of \"HH:MM-HH:MM\" per weekday")
        case .always?: return .alwaysOpen
        case .weekly(let days)?:
            if let unknown = days.keys.first(where: { !OpeningHours.weekdayNames.contains($0) }) {
                throw APIError.badRequest("hours: unknown weekday '\(unknown.prefix(40))' (monday … sunday)")
            }
            var week: [[OpeningPeriod]] = []
            for name in OpeningHours.weekdayNames {
                guard let ranges = days[name] else {
                    throw APIError.badRequest("hours: \(name) is missing (an empty list closes the day)")
                }
                week.append(try ranges.map { (text) throws(APIError) in try Self.period(text, day: name) })
            }
            do {
                return try OpeningHours.weekly(validating: week)
            } catch {
                throw APIError(error)
            }
        }
    }

    /// "08:00-12:00" (24:00 allowed as an end).
    package static func period(_ text: String, day: String) throws(APIError) -> OpeningPeriod {
        func minute(_ part: Substring) -> Int? {
            let hm = part.split(separator: ":", omittingEmptySubsequences: false)
            guard hm.count == 2, hm[0].count == 2, hm[1].count == 2, let h = Int(hm[0]), let m = Int(hm[1]),
                (hm[0] + hm[1]).allSatisfy({ $0.isASCII && $0.isNumber }), (0...24).contains(h), (0..<60).contains(m),
                h < 24 || m == 0
            else { return nil }
            return h * 60 + m
        }
        let ends = text.split(separator: "-", omittingEmptySubsequences: false)
        guard ends.count == 2, let open = minute(ends[0]), let close = minute(ends[1]) else {
            throw APIError.badRequest("hours: \(day): '\(text.prefix(40))' is not HH:MM-HH:MM")
        }
        return OpeningPeriod(open: open, close: close)
    }
}

extension Request {
    /// The JSON body, at most 64 KiB; malformed JSON or wrong types are 400. Its snake_case keys
    /// are converted to the type's camelCase names.
    package mutating func decodeJSON<T: Decodable>(_ type: T.Type) async throws -> T {
        try await decodeJSON(type, convertingKeys: true)
    }

    /// The same for a type whose coding keys are the JSON's names: no key conversion (chosen at
    /// compile time by the type, not per request).
    package mutating func decodeJSON<T: JSONNamedKeys>(_ type: T.Type) async throws -> T {
        try await decodeJSON(type, convertingKeys: false) { buffer in
            buffer.withUnsafeReadableBytes { FlatJSON.members($0) }.flatMap(T.flat)
        }
    }

    private mutating func decodeJSON<T: Decodable>(
        _ type: T.Type, convertingKeys: Bool, fast: (ByteBuffer) -> T? = { _ in nil }
    ) async throws -> T {
        let limit = Limits.defaultBodyBytes
        // A body announced too large is refused before it is read (and before a client that sent
        // `Expect: 100-continue` sends it).
        if let length = headers[.contentLength].flatMap(Int.init), length > limit {
            throw APIError(.contentTooLarge, "payload_too_large", "the body is larger than 64 KiB")
        }
        let buffer = try await collectBody(upTo: limit)
        guard buffer.readableBytes > 0 else { throw APIError.jsonBodyRequired }
        if let value = fast(buffer) { return value }
        do {
            let decoder = JSONDecoder()
            if convertingKeys { decoder.keyDecodingStrategy = .convertFromSnakeCase }
            return try decoder.decode(T.self, from: Data(buffer.readableBytesView))
        } catch let e as APIError {
            throw e  // the body's own check (an unknown key)
        } catch let DecodingError.typeMismatch(_, c) {
            guard !c.codingPath.isEmpty else { throw APIError.badRequest("the body must be a JSON object") }
            throw APIError.badRequest(
                "wrong type for '\(c.codingPath.map { snakeCase($0.stringValue) }.joined(separator: "."))'")
        } catch {
            throw APIError.badRequest("the body is not valid JSON of the expected shape")
        }
    }

    package func query(_ name: String) -> String? { queries.query(name) }

    /// The query string parsed once, for a route that reads several parameters (each
    /// `query(_:)` parses the whole query string again).
    package var queries: ParsedQuery { ParsedQuery(uri.query ?? "") }
}

extension ParsedQuery: QueryReading {
    package func query(_ name: String) -> String? { parameters.first { $0.name == name }?.value }
}

extension Request: QueryReading {}

/// A query string as HTML forms, browsers' `URLSearchParams`, Python's `requests` and the
/// original's Flask write it (application/x-www-form-urlencoded): `+` is a space, `%2B` a plus,
/// `%XX` a byte of UTF-8. A name given twice counts with its first value; a malformed escape is
/// kept as it was sent (and then refused by whatever reads the value).
package struct ParsedQuery {
    package let parameters: [(name: String, value: String)]

    package init(_ query: String) {
        // Split on the bytes of `&` and `=` (ASCII, so the indices fall between characters):
        // splitting by Character cost a search more than its whole query was worth.
        parameters = query.utf8.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true).map { pair in
            let eq = pair.firstIndex(of: UInt8(ascii: "=")) ?? pair.endIndex
            let value = eq < pair.endIndex ? Substring(pair[pair.index(after: eq)...]) : ""
            return (Self.decode(Substring(pair[..<eq])), Self.decode(value))
        }
    }

    /// `+` is a space and `%XX` a byte; text whose escapes are malformed or decode to bytes that
    /// are not UTF-8 keeps its escapes (only `+` decoded). Byte by byte: Foundation's string
    /// search cost a search request more than its query was worth.
    static func decode(_ text: Substring) -> String {
        let utf8 = text.utf8
        guard utf8.contains(where: { $0 == UInt8(ascii: "+") || $0 == UInt8(ascii: "%") }) else { return String(text) }
        let spaced = utf8.map { $0 == UInt8(ascii: "+") ? UInt8(ascii: " ") : $0 }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(spaced.count)
        var k = 0
        while k < spaced.count {
            guard spaced[k] == UInt8(ascii: "%") else {
                decoded.append(spaced[k])
                k += 1
                continue
            }
            guard k + 2 < spaced.count, let h = hexValue(spaced[k + 1]), let l = hexValue(spaced[k + 2]) else {
                return String(decoding: spaced, as: UTF8.self)  // a malformed escape: kept as it is
            }
            decoded.append(h << 4 | l)
            k += 3
        }
        return String(validating: decoded, as: UTF8.self) ?? String(decoding: spaced, as: UTF8.self)
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}

/// The typed readers of query parameters, for a request or its query parsed once.
package protocol QueryReading {
    func query(_ name: String) -> String?
}

extension QueryReading {
    package func queryBool(_ name: String) throws(APIError) -> Bool? {
        guard let v = query(name) else { return nil }
        switch v.lowercased() {
        case "true", "1", "yes": return true
        case "false", "0", "no": return false
        default: throw APIError.badRequest("\(name) must be true or false")
        }
    }

    package func queryInt(_ name: String, range: ClosedRange<Int64>) throws(APIError) -> Int64? {
        guard let v = query(name) else { return nil }
        guard let n = Int64(v), range.contains(n) else {
            throw APIError.badRequest("\(name) must be an integer in \(range.lowerBound)…\(range.upperBound)")
        }
        return n
    }

    /// `limit` (1…`max`, default `fallback`, served as at most `served`) and `offset` (0…2³¹−1)
    /// of a paged listing.
    package func queryPage(max: Int, default fallback: Int, served: Int = .max) throws(APIError) -> (
        limit: Int, offset: Int
    ) {
        let limit = try queryInt("limit", range: 1...Int64(max)) ?? Int64(Swift.min(fallback, max))
        let offset = try queryInt("offset", range: 0...Int64(Int32.max)) ?? 0
        return (Swift.min(Int(limit), served), Int(offset))
    }

    /// `cursor`: the `next_cursor` of the page before (a seat listing's).
    package func querySeatCursor() throws(APIError) -> SeatID? {
        guard let v = query("cursor") else { return nil }
        guard let id = SeatID(v), id >= 0 else {
            throw APIError.badRequest("cursor must be the next_cursor of a page before: \(v)")
        }
        return id
    }

    /// `ids=1,2,3`: only these seats, at most `max` of them.
    package func querySeatIDs(max: Int) throws(APIError) -> Set<SeatID>? {
        guard let ids = try queryIDs(max: max) else { return nil }
        var seats = Set<SeatID>()
        for id in ids {
            guard let seat = SeatID(exactly: id) else { throw APIError.badRequest("ids: no seat has the id \(id)") }
            seats.insert(seat)
        }
        return seats
    }

    /// `ids=1,2,3`: only these (positive ids), at most `max` of them.
    package func queryIDs(max: Int) throws(APIError) -> Set<Int64>? {
        guard let v = query("ids") else { return nil }
        let parts = v.split(separator: ",", omittingEmptySubsequences: false)
        guard parts.count <= max else { throw APIError.badRequest("ids: at most \(max) ids") }
        var ids = Set<Int64>()
        for part in parts {
            guard let id = Int64(part), id > 0 else {
                throw APIError.badRequest("ids must be ids separated by commas: \(part)")
            }
            ids.insert(id)
        }
        return ids
    }

    package func queryTime(_ name: String) throws(APIError) -> Timestamp? {
        guard let v = query(name) else { return nil }
        guard let t = RFC3339.parse(v) else {
            // A raw `+01:00` offset arrives as a space: say how to send it.
            let hint =
                v.contains(" ") ? " (in a query string `+` is a space: write an offset's + as %2B, or use Z)" : ""
            throw APIError.badRequest("\(name) is not an RFC 3339 time: \(v)\(hint)")
        }
        return t
    }

    /// `start_time` + `end_time` (both or neither).
    package func queryWindow() throws(APIError) -> (Timestamp, Timestamp)? {
        let start = try queryTime("start_time")
        let end = try queryTime("end_time")
        return try APIError.mapping { () throws(AppError) in try window(start, end) }
    }
}

/// `studentId` → `student_id`: a field named as the client sent it.
package func snakeCase(_ name: String) -> String {
    var out = ""
    for ch in name {
        if ch.isUppercase {
            out += "_" + ch.lowercased()
        } else {
            out.append(ch)
        }
    }
    return out
}

package func parseBodyTime(_ value: String?, _ name: String) throws(APIError) -> Timestamp {
    guard let value else { throw APIError.badRequest("\(name) is required") }
    guard let t = RFC3339.parse(value) else { throw APIError.badRequest("\(name) is not an RFC 3339 time: \(value)") }
    return t
}

extension APIContext {
    /// An id from the path: not an integer → 400; an integer that cannot be an id → 404.
    package func pathID(_ kind: String = "id") throws(APIError) -> Int64? {
        guard let text = parameters.get("id") else { throw APIError.badRequest("missing \(kind)") }
        guard text.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "-") }), !text.isEmpty else {
            throw APIError.badRequest("\(kind) must be an integer")
        }
        guard let n = Int64(text), n > 0 else { return nil }
        return n
    }

    package func seatID() throws(APIError) -> SeatID {
        guard let n = try pathID("seat id"), let id = SeatID(exactly: n) else {
            throw APIError(.notFound, "not_found", "seat not found")
        }
        return id
    }
}
