import DLSMSTestSupport
import DLSMSWeb
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import NIOCore
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

/// The web app's delivery: the files built in, their strings, headers, gzip, caching, the QR
/// redirect and the rules the page reads. The app itself is tested in a browser
/// (`Tests/browser`, run by `.ci/run`).
@Suite struct WebAppTests {
    static let publicDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .appendingPathComponent("../../Sources/DLSMSWeb/public").standardized

    static func text(_ name: String) throws -> String {
        try String(contentsOf: publicDirectory.appendingPathComponent(name), encoding: .utf8)
    }

    @Test func everyFileOfTheFolderIsBuiltInUnchanged() throws {
        let onDisk = try FileManager.default.contentsOfDirectory(atPath: Self.publicDirectory.path)
            .filter { !$0.hasPrefix(".") }.sorted()
        #expect(WebFiles.all.map(\.name).sorted() == onDisk, "list every file of public/ in WebFiles.swift")
        for file in WebFiles.all {
            let bytes = try [UInt8](Data(contentsOf: Self.publicDirectory.appendingPathComponent(file.name)))
            #expect(bytes == file.bytes, "\(file.name) differs from the built-in copy: rebuild")
        }
    }

    @Test func everyStringThePagesAskForIsInTheEnglishTable() throws {
        let table = try Self.text("strings-en.js")
        let keys = Set(
            table.matches(of: /^\s+"([a-z_0-9.A-Z]+)":/.anchorsMatchLineEndings()).map { String($0.output.1) })
        #expect(keys.count > 100)
        var used: Set<String> = []
        for file in WebFiles.all where file.name.hasSuffix(".js") && file.name != "strings-en.js" {
            let source = String(decoding: file.bytes, as: UTF8.self)
            for m in source.matches(of: /\bt\("([a-z_0-9.A-Z]+)"/) { used.insert(String(m.output.1)) }
        }
        let dynamic =
            [
                "HELD", "CONFIRMED", "CHECKED_IN", "COMPLETED", "CANCELLED", "NO_SHOW", "WAITING", "OFFERED",
                "ACCEPTED",
                "DECLINED", "EXPIRED", "NOTIFIED",
            ].map { "status.\($0)" }
            + ["free", "taken", "maintenance", "closed", "restricted"].flatMap {
                ["state.\($0)", "mark.\($0)", "detail.state_\($0)"]
            }
            + ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"].map { "weekday.\($0)" }
            + ["reservations", "seats", "branches", "groups", "strikes", "stats"].map { "staff.\($0)" }
            + [
                "max_upcoming_per_student", "max_hours_per_day", "max_hours_per_week", "max_duration_minutes",
                "max_days_ahead", "grace_minutes", "max_waitlist",
            ].map { "limit.\($0)" }
            + [
                "max_upcoming", "max_hours_per_day", "max_hours_per_week", "max_duration_minutes", "max_days_ahead",
                "grace_minutes", "max_waitlist", "strike_threshold", "strike_window_days", "suspension_days",
                "late_cancel_minutes",
            ].map { "policy.\($0)" }
            + ["no_show", "late_cancel"].map { "strike.\($0)" }
            + ["hours_per_day", "hours_per_week"].map { "limit_rule.\($0)" }
            + ["on", "off", "connecting"].map { "live.\($0)" }
        let missing = used.union(dynamic).subtracting(keys).sorted()
        #expect(missing.isEmpty, "missing from strings-en.js: \(missing)")
        // Every refusal code the server sends has words.
        for code in [
            "seat_conflict", "limit_reached", "outside_opening_hours", "closed", "in_the_past", "checkin_window",
            "presence_required", "offer_expired", "user_overlap", "seat_in_maintenance", "weak_password",
            "rate_limited", "unavailable", "unauthorized", "not_allowed_for_group", "not_open_yet", "suspended",
        ] {
            #expect(keys.contains("error.\(code)"), "error.\(code)")
        }
    }

    @Test func thePageHasAStrictPolicyAndNoInlineCode() async throws {
        let index = try Self.text("index.html")
        #expect(!index.contains("<script>") && !index.contains(" style=") && !index.contains("onclick="))
        #expect(!index.contains("http://") && !index.contains("https://"), "no CDN, no absolute URLs")
        try await withService { client, _, _ in
            let page = try await client.call(.get, "/")
            #expect(page.status == .ok && page.headers[.contentType] == "text/html; charset=utf-8")
            let csp = page.headers[HTTPField.Name("Content-Security-Policy")!] ?? ""
            #expect(csp.contains("default-src 'self'") && csp.contains("script-src 'self'") && !csp.contains("unsafe"))
            #expect(page.headers[.cacheControl] == "no-cache" && page.headers[.xContentTypeOptions] == "nosniff")
            #expect(page.text.contains("app/\(WebApp.embedded.version)/app.js") && !page.text.contains("{{VERSION}}"))
            let head = try await client.call(.head, "/")
            #expect(head.status == .ok && head.text.isEmpty && head.headers[.eTag] == page.headers[.eTag])
            let etag = try #require(page.headers[.eTag])
            let again = try await client.call(.get, "/", headers: [.ifNoneMatch: etag])
            #expect(again.status == .notModified && again.text.isEmpty)
        }
    }

    @Test func versionedFilesAreCachedForAYearAndGzipped() async throws {
        try await withService { client, _, _ in
            let version = WebApp.embedded.version
            let plain = try await client.call(.get, "/app/\(version)/app.js")
            #expect(plain.status == .ok && plain.headers[.contentType] == "text/javascript; charset=utf-8")
            #expect(plain.headers[.cacheControl] == "public, max-age=31536000, immutable")
            #expect(plain.headers[.contentEncoding] == nil && plain.headers[.vary] == "Accept-Encoding")
            #expect(Array(plain.text.utf8) == WebFiles.all.first { $0.name == "app.js" }?.bytes)
            let packed = try await client.execute(
                uri: "/app/\(version)/app.js", method: .get, headers: [.acceptEncoding: "br, gzip;q=0.8"])
            #expect(packed.headers[.contentEncoding] == "gzip")
            #expect(packed.headers[.eTag] != plain.headers[.eTag], "one strong ETag per encoding")
            let unchanged = try await client.execute(
                uri: "/app/\(version)/app.js", method: .get,
                headers: [.acceptEncoding: "gzip", .ifNoneMatch: packed.headers[.eTag] ?? ""])
            #expect(unchanged.status == .notModified)
            let other = try await client.execute(
                uri: "/app/\(version)/app.js", method: .get, headers: [.ifNoneMatch: packed.headers[.eTag] ?? ""])
            #expect(other.status == .ok, "the gzip ETag does not match the plain file")
            let bytes = Array(packed.body.readableBytesView)
            #expect(bytes.count < plain.text.utf8.count && WebApp.gunzip(bytes) == Array(plain.text.utf8))
            let refused = try await client.execute(
                uri: "/app/\(version)/app.js", method: .get, headers: [.acceptEncoding: "gzip;q=0, identity"])
            #expect(refused.headers[.contentEncoding] == nil)
            // Another build's page gets today's file, not cached for good.
            let old = try await client.call(.get, "/app/0123456789abcdef/app.css")
            #expect(old.status == .ok && old.headers[.cacheControl] == "no-cache")
            for uri in ["/app/\(version)/nope.js", "/app/\(version)/..%2Fopenapi.yaml", "/app/\(version)/"] {
                let r = try await client.call(.get, uri)
                #expect(r.status == .notFound && r.code == "not_found", "\(uri): \(r.status)")
            }
        }
    }

    @Test func acceptEncodingIsReadAsTheRFCSays() {
        #expect(WebApp.acceptsGzip("gzip"))
        #expect(WebApp.acceptsGzip("deflate, gzip;q=0.5"))
        #expect(WebApp.acceptsGzip("*"))
        #expect(WebApp.acceptsGzip("GZIP ; q=1.0"))
        #expect(!WebApp.acceptsGzip(nil))
        #expect(!WebApp.acceptsGzip("identity"))
        #expect(!WebApp.acceptsGzip("gzip;q=0"))
        #expect(!WebApp.acceptsGzip("*;q=0.5, gzip;q=0"))
        #expect(!WebApp.acceptsGzip("br"))
    }

    @Test func aSeatCodeOpenedByAPhoneGoesToTheCheckInView() async throws {
        try await withService { client, _, _ in
            let r = try await client.call(.get, "/checkin/12-abcDEF_x")
            #expect(r.status == .seeOther && r.headers[.location] == "../#/checkin/12-abcDEF_x")
            for bad in ["/checkin/a%22b", "/checkin/" + String(repeating: "a", count: 65), "/checkin/%E2%9C%93"] {
                let refused = try await client.call(.get, bad)
                #expect(refused.status == .notFound && refused.code == "not_found", "\(bad)")
            }
        }
    }

    @Test func theRulesAreThoseInForce() async throws {
        try await withService(
            Configure {
                $0.graceMinutes = 20
                $0.checkInOpensMinutes = 45
                $0.selfRegistration = false
            }
        ) { client, _, _ in
            let r = try await client.call(.get, "/rules")
            #expect(r.status == .ok)
            #expect(r.json["grace_minutes"] as? Int == 20 && r.json["checkin_opens_minutes"] as? Int == 45)
            #expect(r.json["self_registration"] as? Bool == false && r.json["max_upcoming_per_student"] as? Int == 3)
            #expect(r.json["min_duration_minutes"] as? Int == 15 && r.json["max_duration_minutes"] as? Int == 240)
        }
    }

    @Test func aWebDirectoryReplacesTheBuiltInFiles() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: ConfigurationError.self) { try WebApp.directory(dir + "/missing") }
        #expect(throws: ConfigurationError.self) { try WebApp.directory(dir) }
        try Data("<p>{{VERSION}}</p>".utf8).write(to: URL(fileURLWithPath: dir + "/index.html"))
        try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/a.js"))
        try FileManager.default.createSymbolicLink(atPath: dir + "/passwd.js", withDestinationPath: "/etc/passwd")
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: false)
        let web = try WebApp.directory(dir)
        #expect(web.version != WebApp.embedded.version && web.assets.keys.sorted() == ["a.js"])
        #expect(String(buffer: web.index.plain) == "<p>\(web.version)</p>")
        let parsed = try ServerSettings.parse(arguments: ["--web-dir", dir], environment: [:])
        #expect(parsed.configuration.web?.version == web.version)
    }
}
