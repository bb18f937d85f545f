import Crypto
import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird
import NIOCore

/// Private iCalendar feeds (RFC 5545): `POST`/`DELETE /calendar/feed` for the signed-in student,
/// and `GET /calendar/{token}.ics` for calendar apps (the token is the credential: they cannot
/// send a bearer token).
///
/// A token is 28 random-looking bytes in base64url: the account id (4 bytes) and 24 random
/// bytes. The account stores only the token's SHA-256 (durable, in its `userChanged` record), so
/// a snapshot does not reveal feeds; a new token replaces the old one, and revoking forgets it.
package enum CalendarFeed {
    package static let tokenBytes = 28
    /// Events: reservations that ended at most this long ago, and every later one.
    package static let recent: Timestamp = 30 * 86_400
    package static let maxEvents = 500

    package static func newToken(for user: UserID) -> (token: String, hash: [UInt8]) {
        let bytes = Base64URL.bytes(UInt32(bitPattern: user)) + Base64URL.random(tokenBytes - 4)
        return (Base64URL.encode(bytes), Array(SHA256.hash(data: bytes)))
    }

    /// The account a token names and the token's hash; `nil` for anything that is not a token.
    package static func parse(_ token: String) -> (UserID, [UInt8])? {
        guard let bytes = Base64URL.decode(token, count: tokenBytes) else { return nil }
        return (UserID(bitPattern: Base64URL.uint32(bytes)), Array(SHA256.hash(data: bytes)))
    }

    /// One event per reservation, with its seat (`nil` when unknown).
    package static func render(_ reservations: [(Reservation, Seat?)], name: String) -> String {
        var out = ICalendar()
        out.line("BEGIN:VCALENDAR")
        out.line("VERSION:2.0")
        out.line("PRODID:-//DL-SMS//Library seat reservations//EN")
        out.line("CALSCALE:GREGORIAN")
        out.line("METHOD:PUBLISH")
        out.property("X-WR-CALNAME", text: "Library seats: \(name)")
        for (r, seat) in reservations {
            let label = seat?.displayLabel ?? String(r.seatID)
            out.line("BEGIN:VEVENT")
            out.line("UID:reservation-\(r.id)@dl-sms")
            out.line("DTSTAMP:\(ICalendar.utc(r.createdAt))")
            out.line("DTSTART:\(ICalendar.utc(r.start))")
            out.line("DTEND:\(ICalendar.utc(r.end))")
            out.property("SUMMARY", text: "Seat \(label)" + (seat.map { " (\($0.branch))" } ?? ""))
            out.property(
                "LOCATION", text: seat.map { "\($0.branch), \($0.area), seat \(label)" } ?? "seat \(label)")
            out.property("DESCRIPTION", text: "Reservation \(r.id): \(r.status.name)")
            let cancelled = r.status == .cancelled || r.status == .noShow
            out.line("STATUS:\(cancelled ? "CANCELLED" : "CONFIRMED")")
            // Later states are later revisions (clients replace an event with a higher sequence).
            out.line("SEQUENCE:\(r.status.stage)")
            out.line("END:VEVENT")
        }
        out.line("END:VCALENDAR")
        return out.text
    }
}

/// RFC 5545 content lines: CRLF, folded at 75 octets (never inside a UTF-8 sequence), TEXT
/// values escaped.
package struct ICalendar {
    private(set) var text = ""

    /// Folds by code points (never inside a UTF-8 sequence, as the RFC asks; a line may split a
    /// character made of several code points, which unfolding joins again), each line taking at
    /// least one code point.
    package mutating func line(_ content: String) {
        var octets = 0
        var line = ""
        for scalar in content.unicodeScalars {
            let n = String(scalar).utf8.count
            if octets + n > 75 && octets > 1 {
                text += line + "\r\n"
                line = " "  // a continuation line starts with a space
                octets = 1
            }
            line.unicodeScalars.append(scalar)
            octets += n
        }
        text += line + "\r\n"
    }

    package mutating func property(_ name: String, text value: String) { line("\(name):\(Self.escape(value))") }

    /// By code points: a comma followed by a combining mark is still escaped.
    package static func escape(_ s: String) -> String {
        var out = ""
        var lastWasCR = false
        for scalar in s.unicodeScalars {
            defer { lastWasCR = scalar == "\r" }
            switch scalar {
            case "\\": out += "\\\\"
            case ";": out += "\\;"
            case ",": out += "\\,"
            case "\r": out += "\\n"
            case "\n": if !lastWasCR { out += "\\n" }
            default:
                // Other control characters are not allowed in TEXT.
                if scalar.value < 0x20 || scalar.value == 0x7F { continue }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `20261201T090000Z`.
    package static func utc(_ t: Timestamp) -> String {
        let s = RFC3339.format(t)  // 2026-12-01T09:00:00Z
        return s.replacingOccurrences(of: "-", with: "").replacingOccurrences(of: ":", with: "")
    }
}

package func addCalendarRoutes(public router: Router<APIContext>, api: RouterGroup<APIContext>, service: LibraryService)
{
    let engine = service.engine

    api.post("/calendar/feed") { _, context -> Response in
        let caller = try context.requireCaller()
        let (token, hash) = CalendarFeed.newToken(for: caller.userID)
        _ = try await engine.updateUser(id: caller.userID) { $0.calendarFeed = hash }
        return Render.response(.created) {
            $0.object {
                $0.field("url", "/calendar/\(token).ics")
                $0.field("token", token)
            }
        }
    }

    api.delete("/calendar/feed") { _, context -> Response in
        let caller = try context.requireCaller()
        let had = engine.user(id: caller.userID)?.calendarFeed.isEmpty == false
        if had { _ = try await engine.updateUser(id: caller.userID) { $0.calendarFeed = [] } }
        return Render.response { $0.object { $0.field("revoked", had) } }
    }

    @Sendable func feed(_ request: Request, _ context: APIContext) async throws -> Response {
        let file = context.parameters.get("file") ?? ""
        guard file.hasSuffix(".ics"), let (id, hash) = CalendarFeed.parse(String(file.dropLast(4))),
            let user = engine.user(id: id), !user.disabled, !user.calendarFeed.isEmpty,
            Bcrypt.constantTimeEquals(user.calendarFeed, hash)
        else { throw APIError(.notFound, "not_found", "no such calendar feed") }
        let now = engine.clock.now()
        let mine = await engine.reservations(of: id, limit: CalendarFeed.maxEvents).items.filter {
            $0.status != .held && $0.end >= now - CalendarFeed.recent
        }
        let seats = await engine.seats(Set(mine.map(\.seatID)))
        let body = CalendarFeed.render(mine.sorted { $0.id < $1.id }.map { ($0, seats[$0.seatID]) }, name: user.name)
        let etag =
            "\"" + SHA256.hash(data: Array(body.utf8)).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
        var headers: HTTPFields = [.eTag: etag, .cacheControl: "private, max-age=300"]
        // Weak comparison (RFC 9110): W/"x" matches "x".
        let wanted = (request.headers[.ifNoneMatch] ?? "").split(separator: ",").map {
            let tag = $0.trimmingCharacters(in: .whitespaces)
            return tag.hasPrefix("W/") ? String(tag.dropFirst(2)) : tag
        }
        if wanted.contains(etag) || wanted.contains("*") { return Response(status: .notModified, headers: headers) }
        headers[.contentType] = "text/calendar; charset=utf-8"
        return Response(
            status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    router.get("/calendar/:file") { request, context in try await feed(request, context) }
}
