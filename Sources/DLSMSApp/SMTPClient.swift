import Foundation
import NIOCore
import NIOPosix
import NIOSSL

/// Where and how mail is submitted.
public struct SMTPSettings: Sendable, Hashable {
    public enum Security: String, Sendable, Hashable, CaseIterable {
        /// Plain connection, then `STARTTLS` (required: a relay that does not offer it is refused).
        case starttls
        /// TLS from the first byte (port 465).
        case tls
        /// No TLS: only allowed for a relay on a loopback address (``SMTPSettings/validate()``).
        case none
    }

    public var host: String
    public var port: Int
    public var security: Security
    public var username: String?
    public var password: String?
    /// The name this server gives in `EHLO`.
    public var heloName: String
    /// A PEM file of certificates to trust (e.g. a campus CA) instead of the system's.
    public var caFile: String?
    /// Each step of the dialogue (connect, each reply) must finish within this.
    public var timeout: Duration

    public init(
        host: String, port: Int, security: Security = .starttls, username: String? = nil, password: String? = nil,
        heloName: String = "localhost", caFile: String? = nil, timeout: Duration = .seconds(30)
    ) {
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.heloName = heloName
        self.caFile = caFile
        self.timeout = timeout
    }

    /// Refuses a relay without TLS unless it is on this machine, and credentials without TLS.
    public func validate() throws(SMTPError) {
        // A name is not checked by what it resolves to: only these literals count as loopback.
        let octets = host.split(separator: ".", omittingEmptySubsequences: false)
        let loopback =
            host == "localhost" || host == "::1"
            || (octets.count == 4 && octets[0] == "127" && octets.allSatisfy { UInt8($0) != nil })
        if security == .none && !loopback {
            throw .configuration("SMTP without TLS is only allowed to a relay on a loopback address")
        }
        if security == .none && username != nil {
            throw .configuration("SMTP credentials are never sent without TLS")
        }
        guard (1...65_535).contains(port) else { throw .configuration("the SMTP port must be 1–65535") }
        if let caFile {
            let certificates = (try? NIOSSLCertificate.fromPEMFile(caFile)) ?? []
            guard !certificates.isEmpty else { throw .configuration("\(caFile) holds no PEM certificate") }
        }
    }
}

/// Why a message was not sent: temporary failures are retried, permanent ones given up on.
public enum SMTPError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A 4xx reply, a timeout, a closed connection: try again later.
    case temporary(String)
    /// A 5xx reply: this message will not be taken.
    case permanent(String)
    /// The settings cannot work (refused at start).
    case configuration(String)
    /// Not tried: the connection ended before this message's turn.
    case notAttempted

    public var description: String {
        switch self {
        case .temporary(let s): "temporary: \(s)"
        case .permanent(let s): "permanent: \(s)"
        case .configuration(let s): s
        case .notAttempted: "not tried: the connection ended before its turn"
        }
    }

    public var isPermanent: Bool { if case .permanent = self { true } else { false } }
}

/// One message for ``SMTPClient/send(_:settings:group:)``: the envelope and the rendered text.
public struct SMTPEnvelope: Sendable {
    public var from: String
    public var to: String
    public var data: String
    public init(from: String, to: String, data: String) {
        self.from = from
        self.to = to
        self.data = data
    }
}

/// An SMTP submission client (RFC 5321, STARTTLS RFC 3207, AUTH PLAIN/LOGIN RFC 4954) on SwiftNIO
/// and swift-nio-ssl. Written by hand: none of the offline Swift packages is a maintained SMTP
/// client; this is the client side only, for a relay we trust to take the message on.
public enum SMTPClient {
    /// Sends `messages` over one connection, in order; the result of each (a session that fails
    /// before the first message fails them all the same way).
    public static func send(
        _ messages: [SMTPEnvelope], settings: SMTPSettings,
        group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) async
        -> [Result<Void, SMTPError>]
    {
        guard !messages.isEmpty else { return [] }
        do {
            let tls = try tlsContext(settings)
            let channel = try await ClientBootstrap(group: group)
                .connectTimeout(.init(settings.timeout))
                .channelOption(.socketOption(.so_reuseaddr), value: 1)
                .connect(host: settings.host, port: settings.port) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        if settings.security == .tls, let tls {
                            try channel.pipeline.syncOperations.addHandler(
                                try NIOSSLClientHandler(context: tls, serverHostname: serverName(settings.host)))
                        }
                        return try NIOAsyncChannel<ByteBuffer, ByteBuffer>(wrappingChannelSynchronously: channel)
                    }
                }
            return try await channel.executeThenClose { inbound, outbound in
                var session = Session(
                    channel: channel.channel, replies: inbound.makeAsyncIterator(), outbound: outbound,
                    settings: settings)
                try await session.open(tls: tls)
                var results: [Result<Void, SMTPError>] = []
                for (i, m) in messages.enumerated() {
                    do throws(SMTPError) {
                        try await session.deliver(m)
                        results.append(.success(()))
                    } catch {
                        results.append(.failure(error))
                        if case .temporary = error, !session.usable {
                            // The connection is gone: the rest were not tried, and wait for the next round.
                            results += messages[(i + 1)...].map { _ in .failure(.notAttempted) }
                            return results
                        }
                    }
                }
                await session.quit()
                return results
            }
        } catch let error as SMTPError {
            return messages.map { _ in .failure(error) }
        } catch {
            return messages.map { _ in .failure(.temporary("connection: \(error)")) }
        }
    }

    static func tlsContext(_ settings: SMTPSettings) throws -> NIOSSLContext? {
        guard settings.security != .none else { return nil }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let ca = settings.caFile { configuration.trustRoots = .file(ca) }
        return try NIOSSLContext(configuration: configuration)
    }

    /// SNI takes a name, not an address literal.
    static func serverName(_ host: String) -> String? {
        host.allSatisfy { $0.isNumber || $0 == "." || $0 == ":" } ? nil : host
    }
}

/// The dialogue on one connection.
private struct Session {
    let channel: any Channel
    var replies: NIOAsyncChannelInboundStream<ByteBuffer>.AsyncIterator
    let outbound: NIOAsyncChannelOutboundWriter<ByteBuffer>
    let settings: SMTPSettings
    var buffer: [UInt8] = []
    var extensions: [String] = []
    var usable = true

    struct Reply {
        var code: Int
        var lines: [String]
        var text: String { "\(code) " + lines.joined(separator: " / ").prefix(300) }
    }

    mutating func open(tls: NIOSSLContext?) async throws(SMTPError) {
        try expect(await reply(), 220, "greeting")
        try await hello()
        if settings.security == .starttls {
            // Not offered (a misconfigured relay, or someone stripping it on the way): try later.
            guard extensions.contains(where: { $0.uppercased() == "STARTTLS" }), let tls else {
                usable = false
                throw .temporary("the relay does not offer STARTTLS (required)")
            }
            try expect(await command("STARTTLS"), 220, "STARTTLS")
            // Anything sent before the handshake could be a reply injected on the way: none is
            // taken for one of the encrypted session (RFC 3207 §6).
            guard buffer.isEmpty else {
                usable = false
                throw .temporary("the relay sent more after STARTTLS's 220; refused")
            }
            do {
                let name = SMTPClient.serverName(settings.host)
                try await channel.eventLoop.submit { [channel] in
                    try channel.pipeline.syncOperations.addHandler(
                        try NIOSSLClientHandler(context: tls, serverHostname: name), position: .first)
                }.get()
            } catch {
                throw .temporary("TLS: \(error)")
            }
            try await hello()  // the capabilities again, now under TLS (RFC 3207 §4.2)
        }
        if let user = settings.username {
            try await authenticate(user: user, password: settings.password ?? "")
        }
    }

    mutating func hello() async throws(SMTPError) {
        let r = try await command("EHLO \(settings.heloName)")
        try expect(r, 250, "EHLO")
        extensions = Array(r.lines.dropFirst())
    }

    mutating func authenticate(user: String, password: String) async throws(SMTPError) {
        let mechanisms =
            extensions.first { $0.uppercased().hasPrefix("AUTH") }?.uppercased().split(separator: " ") ?? []
        if mechanisms.contains("PLAIN") {
            let token = Data(([0] + Array(user.utf8) + [0] + Array(password.utf8))).base64EncodedString()
            try expect(await command("AUTH PLAIN \(token)", secret: true), 235, "AUTH PLAIN")
        } else if mechanisms.contains("LOGIN") {
            try expect(await command("AUTH LOGIN"), 334, "AUTH LOGIN")
            try expect(await command(Data(user.utf8).base64EncodedString(), secret: true), 334, "AUTH LOGIN user")
            try expect(await command(Data(password.utf8).base64EncodedString(), secret: true), 235, "AUTH LOGIN")
        } else {
            usable = false
            throw .temporary("the relay offers neither AUTH PLAIN nor AUTH LOGIN")
        }
    }

    /// One message: MAIL, RCPT, DATA; after a refused step, RSET (the next message starts clean).
    mutating func deliver(_ m: SMTPEnvelope) async throws(SMTPError) {
        do throws(SMTPError) {
            try expect(await command("MAIL FROM:<\(m.from)>"), 250, "MAIL FROM")
            let rcpt = try await command("RCPT TO:<\(m.to)>")
            guard rcpt.code == 250 || rcpt.code == 251 else { throw Self.failure(rcpt, "RCPT TO") }
            try expect(await command("DATA"), 354, "DATA")
            try await write(Self.dotStuffed(m.data) + ".\r\n")
            try expect(await reply(), 250, "end of DATA")
        } catch {
            if usable { _ = try? await command("RSET") }
            throw error
        }
    }

    mutating func quit() async { _ = try? await command("QUIT") }

    // MARK: - Lines and replies

    func expect(_ r: Reply, _ code: Int, _ step: String) throws(SMTPError) {
        guard r.code == code else { throw Self.failure(r, step) }
    }

    static func failure(_ r: Reply, _ step: String) -> SMTPError {
        (500...599).contains(r.code) ? .permanent("\(step): \(r.text)") : .temporary("\(step): \(r.text)")
    }

    mutating func command(_ line: String, secret: Bool = false) async throws(SMTPError) -> Reply {
        try await write(line + "\r\n")
        return try await reply()
    }

    mutating func write(_ text: String) async throws(SMTPError) {
        let timer = channel.eventLoop.scheduleTask(in: .init(settings.timeout)) { [channel] in
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        do {
            try await outbound.write(ByteBuffer(string: text))
        } catch {
            usable = false
            throw .temporary("write: \(error)")
        }
    }

    /// The most lines, and bytes, of one reply (an EHLO answer has a dozen).
    static let maxReplyLines = 100
    static let maxReplyBytes = 16_384

    /// A whole reply (continuation lines `250-…` up to `250 …`), all of it within the timeout:
    /// a relay that trickles, or never ends a reply, closes the connection.
    mutating func reply() async throws(SMTPError) -> Reply {
        let timer = channel.eventLoop.scheduleTask(in: .init(settings.timeout)) { [channel] in
            channel.close(promise: nil)
        }
        defer { timer.cancel() }
        var lines: [String] = []
        var bytes = 0
        while true {
            let line = try await nextLine()
            bytes += line.utf8.count
            guard line.utf8.count >= 3, let code = Int(line.prefix(3)), lines.count < Self.maxReplyLines,
                bytes <= Self.maxReplyBytes
            else {
                usable = false
                channel.close(promise: nil)
                throw .temporary("a reply that is not SMTP, or too long: \(line.prefix(80))")
            }
            lines.append(String(line.dropFirst(4)))
            if line.utf8.count == 3 || line.dropFirst(3).first == " " { return Reply(code: code, lines: lines) }
        }
    }

    mutating func nextLine() async throws(SMTPError) -> String {
        while true {
            if let end = buffer.firstIndex(of: 10) {
                var line = Array(buffer[..<end])
                buffer.removeSubrange(...end)
                if line.last == 13 { line.removeLast() }
                return String(decoding: line, as: UTF8.self)
            }
            guard buffer.count < 4_096 else {
                usable = false
                channel.close(promise: nil)
                throw .temporary("a reply line longer than 4 KiB")
            }
            let next: ByteBuffer?
            do {
                next = try await replies.next()
            } catch {
                usable = false
                throw .temporary("read: \(error)")
            }
            guard let next else {
                usable = false
                throw .temporary("the relay closed the connection (or did not answer in time)")
            }
            buffer += next.readableBytesView
        }
    }

    /// Lines starting with a dot get another (RFC 5321 §4.5.2); the text ends in CRLF.
    static func dotStuffed(_ data: String) -> String {
        var out = data.hasPrefix(".") ? "." : ""
        out += data.replacingOccurrences(of: "\r\n.", with: "\r\n..")
        return out.hasSuffix("\r\n") ? out : out + "\r\n"
    }
}
