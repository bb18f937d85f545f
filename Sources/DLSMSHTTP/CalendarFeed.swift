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
        let body = CalendarEvents.render(
            mine.sorted { $0.id < $1.id }.map { ($0, seats[$0.seatID]) }, name: user.name,
            language: Language(rawValue: user.language) ?? .english)
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
