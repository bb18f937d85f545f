import CZlib
import Crypto
import DLSMSApp
import DLSMSWeb
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// The web app for students and staff: static HTML, CSS and ES modules (`Sources/DLSMSWeb/public`),
/// compiled into the binary, gzipped once at start and served from memory.
///
/// - `GET /` is the page (`Cache-Control: no-cache`, an `ETag`); it names every other file under
///   `app/<version>/`, where the version is a hash of all the files, so those are cached for a
///   year (`immutable`) and a new build is fetched at once.
/// - `GET /checkin/{code}` (the URL in a seat's QR code, opened by a phone's camera) redirects to
///   the page's check-in view, which signs the student in and posts the code.
/// - Every answer carries a strict Content-Security-Policy: scripts, styles and connections from
///   this origin only, no inline script or style, no framing.
///
/// Every URL the page uses is relative (none starts with `/`), for a proxy's path prefix.
public struct WebApp: Sendable {
    public struct Asset: Sendable {
        let contentType: String
        let plain: ByteBuffer
        let gzipped: ByteBuffer?
        let etag: String
    }

    /// A hash of every file: the path segment that makes the files' URLs change with any edit.
    public let version: String
    package let index: Asset
    package let assets: [String: Asset]

    package static let securityHeaders: HTTPFields = [
        .init("Content-Security-Policy")!:
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
        .init("Referrer-Policy")!: "no-referrer",
        .init("X-Frame-Options")!: "DENY",
    ]

    /// The files built into the binary.
    public static let embedded = WebApp(files: WebFiles.all)

    /// The files of a directory (`--web-dir`), read once.
    public static func directory(_ path: String) throws(ConfigurationError) -> WebApp {
        let url = URL(fileURLWithPath: path)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else {
            throw ConfigurationError("--web-dir \(path): not a readable directory")
        }
        var files: [(name: String, bytes: [UInt8])] = []
        for name in names.sorted() where !name.hasPrefix(".") {
            // Regular files only: no links out of the directory, no folders.
            let path = url.appendingPathComponent(name).path
            guard
                (try? FileManager.default.attributesOfItem(atPath: path)[.type] as? FileAttributeType) == .typeRegular,
                let data = FileManager.default.contents(atPath: path)
            else { continue }
            files.append((name, [UInt8](data)))
        }
        guard files.contains(where: { $0.name == "index.html" }) else {
            throw ConfigurationError("--web-dir \(path): there is no index.html")
        }
        return WebApp(files: files)
    }

    public init(files: [(name: String, bytes: [UInt8])]) {
        var hasher = SHA256()
        for file in files {
            hasher.update(data: Array(file.name.utf8) + [0])
            hasher.update(data: file.bytes)
        }
        version = hasher.finalize().prefix(8).map { String(format: "%02x", $0) }.joined()
        var assets: [String: Asset] = [:]
        var index = Self.asset(name: "index.html", bytes: Array("<!doctype html><title>DL-SMS</title>".utf8))
        for file in files {
            if file.name == "index.html" {
                let text = String(decoding: file.bytes, as: UTF8.self).replacingOccurrences(
                    of: "{{VERSION}}", with: version)
                index = Self.asset(name: file.name, bytes: Array(text.utf8))
            } else {
                assets[file.name] = Self.asset(name: file.name, bytes: file.bytes)
            }
        }
        self.index = index
        self.assets = assets
    }

    /// The privacy notice at `/privacy`: the operator's HTML fragment (`--privacy-notice`) or the
    /// built-in `privacy-notice.html`, in a page with the app's style sheet and a way back.
    package func privacyPage(notice: String?) -> Asset {
        let fragment =
            notice ?? assets["privacy-notice.html"].map { String(buffer: $0.plain) }
            ?? "<h1>Privacy notice</h1><p>The library has not published a privacy notice yet.</p>"
        return page(
            "privacy.html", title: "Privacy notice", up: "",
            main: """
                <main class="privacy" id="main">
                \(fragment)
                <p class="privacy-back"><a href="./">Back to DL-SMS</a></p>
                </main>
                """)
    }

    /// The display at a library's entrance (`/display/{branch}` with `up` = `../`, or
    /// `/display/{branch}/{area}` with `../../`): a page whose `display.js` reads
    /// `public/display/…` and draws it.
    package func displayPage(up: String) -> Asset {
        page(
            "display.html", title: "Free seats", up: up, script: "display.js",
            main: #"<main class="kiosk" id="display"><h1 class="kiosk-title">Free seats…</h1></main>"#)
    }

    /// A page of its own outside the app's `index.html`: the app's style sheet (and `script`) of
    /// this build, `up` levels above the page's URL, and `main`.
    private func page(_ name: String, title: String, up: String, script: String? = nil, main: String) -> Asset {
        let module = script.map { #"<script type="module" src="\#(up)app/\#(version)/\#($0)"></script>"# + "\n" } ?? ""
        let html = """
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(title) · DL-SMS</title>
            <link rel="stylesheet" href="\(up)app/\(version)/app.css">
            \(module)</head>
            <body>
            \(main)
            </body>
            </html>

            """
        return Self.asset(name: name, bytes: Array(html.utf8))
    }

    /// A strong entity tag for `bytes`: 12 bytes of their SHA-256, quoted.
    package static func strongETag(_ bytes: [UInt8]) -> String {
        "\"" + SHA256.hash(data: bytes).prefix(12).map { String(format: "%02x", $0) }.joined() + "\""
    }

    /// Whether an `If-None-Match` list names `etag` (itself, weakly, or `*`).
    package static func matches(ifNoneMatch tags: String?, _ etag: String) -> Bool {
        guard let tags else { return false }
        return tags.split(separator: ",").contains {
            let t = $0.trimmingCharacters(in: .whitespaces)
            return t == etag || t == "W/" + etag || t == "*"
        }
    }

    package static func asset(name: String, bytes: [UInt8]) -> Asset {
        let type: String
        switch name.split(separator: ".").last ?? "" {
        case "html": type = "text/html; charset=utf-8"
        case "css": type = "text/css; charset=utf-8"
        case "js": type = "text/javascript; charset=utf-8"
        case "svg": type = "image/svg+xml"
        case "json": type = "application/json"
        case "png": type = "image/png"
        default: type = "application/octet-stream"
        }
        let packed = type.hasPrefix("image/png") ? nil : gzip(bytes)
        return Asset(
            contentType: type, plain: ByteBuffer(bytes: bytes),
            gzipped: packed.flatMap { $0.count < bytes.count ? ByteBuffer(bytes: $0) : nil }, etag: strongETag(bytes))
    }

    /// The answer for one file: gzipped when the client takes gzip, 304 when it has this version.
    package func response(_ asset: Asset, request: Request, immutable: Bool) -> Response {
        var headers = Self.securityHeaders
        headers[.contentType] = asset.contentType
        headers[.cacheControl] = immutable ? "public, max-age=31536000, immutable" : "no-cache"
        headers[.vary] = "Accept-Encoding"
        // Each encoding is its own representation, with its own strong ETag (RFC 9110 8.8.3).
        let packed = Self.acceptsGzip(request.headers[.acceptEncoding]) ? asset.gzipped : nil
        let etag = packed == nil ? asset.etag : String(asset.etag.dropLast()) + "-gz\""
        headers[.eTag] = etag
        if packed != nil { headers[.contentEncoding] = "gzip" }
        if Self.matches(ifNoneMatch: request.headers[.ifNoneMatch], etag) {
            headers[.contentEncoding] = nil
            return Response(status: .notModified, headers: headers)
        }
        return Response(status: .ok, headers: headers, body: .init(byteBuffer: packed ?? asset.plain))
    }

    /// Whether an `Accept-Encoding` list takes gzip (`gzip` or `*`, with no `q=0`).
    package static func acceptsGzip(_ header: String?) -> Bool {
        guard let header else { return false }
        var gzip: Bool?
        var star: Bool?
        for item in header.split(separator: ",") {
            let parts = item.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard let coding = parts.first else { continue }
            let refused = parts.dropFirst().contains { p in
                guard p.hasPrefix("q="), let q = Double(p.dropFirst(2)) else { return false }
                return q <= 0
            }
            if coding == "gzip" || coding == "x-gzip" { gzip = !refused }
            if coding == "*" { star = !refused }
        }
        return gzip ?? star ?? false
    }

    /// gzip (RFC 1952) of `bytes` at the best compression, or nil if zlib fails.
    package static func gzip(_ bytes: [UInt8]) -> [UInt8]? {
        var stream = z_stream()
        // windowBits 15 + 16: a gzip header and trailer instead of zlib's.
        guard
            deflateInit2_(
                &stream, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 9, Z_DEFAULT_STRATEGY, zlibVersion(),
                Int32(MemoryLayout<z_stream>.size)) == Z_OK
        else { return nil }
        defer { deflateEnd(&stream) }
        let capacity = Int(deflateBound(&stream, UInt(bytes.count))) + 64
        return finish(&stream, bytes, capacity: capacity) { deflate(&$0, Z_FINISH) }
    }

    /// The bytes a gzip stream holds (at most `capacity` of them), or nil if it is not one.
    package static func gunzip(_ bytes: [UInt8], capacity: Int = 1 << 24) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit2_(&stream, 15 + 16, zlibVersion(), Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            return nil
        }
        defer { inflateEnd(&stream) }
        return finish(&stream, bytes, capacity: capacity) { inflate(&$0, Z_FINISH) }
    }

    /// Runs one zlib call over all of `bytes` into a buffer of `capacity` bytes.
    private static func finish(
        _ stream: inout z_stream, _ bytes: [UInt8], capacity: Int, _ run: (inout z_stream) -> Int32
    ) -> [UInt8]? {
        var input = bytes
        var output = [UInt8](repeating: 0, count: capacity)
        let status = input.withUnsafeMutableBufferPointer { inBuffer in
            output.withUnsafeMutableBufferPointer { outBuffer in
                stream.next_in = inBuffer.baseAddress
                stream.avail_in = UInt32(inBuffer.count)
                stream.next_out = outBuffer.baseAddress
                stream.avail_out = UInt32(outBuffer.count)
                return run(&stream)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(output.prefix(Int(stream.total_out)))
    }
}

/// `GET /`, `GET /app/{version}/{file}` and `GET /checkin/{code}` (see ``WebApp``).
/// `HEAD` answers as `GET` without the body.
package func addWebRoutes(to router: Router<APIContext>, web: WebApp, privacyNotice: String? = nil) {
    let privacy = web.privacyPage(notice: privacyNotice)
    router.get("/privacy") { request, _ -> Response in web.response(privacy, request: request, immutable: false) }
    let displays = (web.displayPage(up: "../"), web.displayPage(up: "../../"))
    router.get("/display/:name") { request, _ -> Response in
        web.response(displays.0, request: request, immutable: false)
    }
    router.get("/display/:name/:area") { request, _ -> Response in
        web.response(displays.1, request: request, immutable: false)
    }
    let page: @Sendable (Request, APIContext) async throws -> Response = { request, _ in
        web.response(web.index, request: request, immutable: false)
    }
    let file: @Sendable (Request, APIContext) async throws -> Response = { request, context in
        let version = context.parameters.get("version") ?? ""
        let file = context.parameters.get("file") ?? ""
        guard let asset = web.assets[file] else {
            throw APIError(.notFound, "not_found", "no such file of the web app: \(file)")
        }
        // A page of another build (before an upgrade) gets today's file, but not cached for good.
        return web.response(asset, request: request, immutable: version == web.version)
    }
    router.get("/", use: page)
    router.get("/app/:version/:file", use: file)
    router.get("/checkin/:code") { _, context -> Response in
        let code = context.parameters.get("code") ?? ""
        guard !code.isEmpty, code.utf8.count <= 64,
            code.utf8.allSatisfy({
                $0 < 0x80 && (isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_"))
            })
        else { throw APIError(.notFound, "not_found", "no such check-in code") }
        var headers = WebApp.securityHeaders
        headers[.location] = "../#/checkin/\(code)"
        headers[.cacheControl] = "no-store"
        return Response(status: .seeOther, headers: headers)
    }
}
