import DLSMSApp
import DLSMSCore
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

/// Email through a real SMTP server: Python's aiosmtpd on loopback (`Tests/mail/smtp_server.py`)
/// with STARTTLS required and AUTH, every message read back and parsed by Python's `email`
/// package (and its calendar part by `icalendar`: `Tests/mail/mail_check.py`).
@Suite(
    .serialized,
    .enabled(if: MailRelay.available, "Python's aiosmtpd and icalendar are not installed (CI installs them)"))
struct MailEndToEndTests {
    /// Registers a student, asks for `address` and confirms it by the link the email carries.
    static func studentWithAddress(
        _ server: ServerProcess, relay: MailRelay, id: String, name: String, address: String, language: String
    ) async throws -> String {
        let (status, body) = try await server.request(
            "POST", "/auth/register",
            json: #"{"student_id":"\#(id)","password":"long-password-1","name":"\#(name)"}"#)
        let token = try #require(body["token"] as? String, "register: \(status) \(body)")
        #expect(
            try await server.request("PUT", "/me/preferences", token: token, json: #"{"language":"\#(language)"}"#).0
                == 200)
        let link = try await confirmationLink(server, relay, token: token, address: address)
        // A GET only shows the button; the POST confirms.
        #expect(try await server.request("GET", "/mail/confirm?t=\(link)").0 == 200)
        #expect(try await server.request("GET", "/me/preferences", token: token).1["email"] is NSNull)
        #expect(try await server.request("POST", "/mail/confirm?t=\(link)").0 == 200)
        let (_, prefs) = try await server.request("GET", "/me/preferences", token: token)
        #expect(prefs["email"] as? String == address && prefs["email_source"] as? String == "confirmed")
        // A link works once.
        #expect(try await server.request("POST", "/mail/confirm?t=\(link)").0 == 400)
        return token
    }

    @Test func aConfirmedAddressGetsTheBookingInItsLanguageWithACalendarEntryAndUnsubscribesInOneClick()
        async throws
    {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let relay = try await MailRelay.start(directory: dir + "/relay")
        defer { relay.stop() }
        let server = try ServerProcess(dataDirectory: dir + "/data", extra: relay.serverArguments)
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let token = try await Self.studentWithAddress(
            server, relay: relay, id: "M1000001", name: "Jürgen Müller", address: "juergen@example.edu",
            language: "de")

        let start = Timestamp(Date().timeIntervalSince1970) / 3_600 * 3_600 + 3 * 3_600
        let (booked, reservation) = try await server.request(
            "POST", "/reservations", token: token, json: booking(41, start, start + 5_400))
        #expect(booked == 201)
        let id = try #require(reservation["id"] as? Int)
        let mail = try await mailCheck(try #require(await relay.waitFor(count: 2).last))
        // Headers: a German UTF-8 subject (RFC 2047), the sender, a Date, a Message-ID, one-click
        // unsubscribe; delivered under TLS after AUTH; no parser defect, no line over 998 octets.
        #expect((mail["subject"] as? String)?.hasPrefix("Gebucht: Platz ") == true, "\(mail["subject"] ?? "")")
        #expect(mail["from"] as? String == "DL-SMS <library@example.edu>")
        #expect(mail["to"] as? String == "juergen@example.edu")
        #expect(abs((mail["date"] as? Double ?? 0) - Date().timeIntervalSince1970) < 600)
        #expect((mail["message_id"] as? String)?.hasSuffix("@example.edu>") == true)
        #expect(mail["tls"] as? String == "True" && mail["authenticated"] as? String == "True")
        #expect((mail["defects"] as? [String])?.isEmpty == true, "\(mail["defects"] ?? "")")
        #expect(mail["lines_ok"] as? Bool == true)
        #expect(mail["list_unsubscribe_post"] as? String == "List-Unsubscribe=One-Click")
        #expect(mail["content_type"] as? String == "multipart/mixed")
        let parts = try #require(mail["parts"] as? [[String: Any]])
        #expect(parts.map { $0["type"] as? String } == ["text/plain", "text/html", "text/calendar"])
        let plain = try #require(parts[0]["text"] as? String)
        #expect(plain.contains("Hallo Jürgen Müller") && plain.contains("Ihr Platz ist gebucht"))
        #expect((parts[1]["text"] as? String)?.contains("<p>Ihr Platz ist gebucht") == true)
        let event = try #require((parts[2]["events"] as? [[String: Any]])?.first)
        #expect(event["uid"] as? String == "reservation-\(id)@dl-sms")
        #expect(event["start"] as? Double == Double(start) && event["end"] as? Double == Double(start + 5_400))
        #expect((event["summary"] as? String)?.hasPrefix("Platz ") == true)

        // The unsubscribe link works in one click (RFC 8058), without signing in; a forged one does not.
        let unsubscribe = try #require(
            (mail["list_unsubscribe"] as? String)?.firstMatch(of: /<(http[^>]+)>/)?.1)
        // Its host is the configured one (`--port 0` here): the test takes its path and query.
        let link = try #require(URLComponents(string: String(unsubscribe)))
        #expect(link.path == "/mail/unsubscribe")
        let path = link.path + "?" + (link.percentEncodedQuery ?? "")
        let forged = path.replacingOccurrences(of: "t=", with: "t=A")
        #expect(try await postForm(server, forged, "List-Unsubscribe=One-Click") == 400)
        #expect(try await postForm(server, path, "List-Unsubscribe=One-Click") == 200)
        let (_, prefs) = try await server.request("GET", "/me/preferences", token: token)
        #expect((prefs["email_kinds"] as? [String: Bool])?.values.allSatisfy { !$0 } == true, "\(prefs)")
        // Unsubscribed: a booking queues no email at all.
        #expect(
            try await server.request("POST", "/reservations", token: token, json: booking(42, start, start + 3_600)).0
                == 201)
        let admin = try await server.login("admin", "admin-password")
        let (_, status) = try await server.request("GET", "/admin/mail", token: admin)
        #expect(status["pending"] as? Int == 0 && status["delivered"] as? Int == 2, "\(status)")
        #expect(relay.messages().count == 2)
    }

    @Test func aRefusedMessageIsGivenUpAndATemporaryFailureRetriedWithoutHoldingTheOthersBack() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let relay = try await MailRelay.start(
            directory: dir + "/relay", options: ["--temp-fail", "2", "--reject", "nobody@example.edu"])
        defer { relay.stop() }
        let server = try ServerProcess(
            dataDirectory: dir + "/data", extra: relay.serverArguments + ["--mail-backoff-seconds", "1"])
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let (_, body) = try await server.request(
            "POST", "/auth/register", json: #"{"student_id":"M1000002","password":"long-password-1","name":"N"}"#)
        let nobody = try #require(body["token"] as? String)
        #expect(
            try await server.request("POST", "/me/email", token: nobody, json: #"{"address":"nobody@example.edu"}"#).0
                == 202)
        // The first message gets 451 twice and is taken on the third try; the refused one (550 at
        // RCPT) is given up on its first, and neither holds the other back.
        let token = try await Self.studentWithAddress(
            server, relay: relay, id: "M1000003", name: "Ann", address: "ann@example.edu", language: "en")
        let admin = try await server.login("admin", "admin-password")
        let status = try await waitForStatus(server, admin) { ($0["given_up"] as? Int) == 1 }
        #expect(status["last_error"] as? String != nil, "\(status)")
        let start = Timestamp(Date().timeIntervalSince1970) / 3_600 * 3_600 + 4 * 3_600
        #expect(
            try await server.request("POST", "/reservations", token: token, json: booking(43, start, start + 3_600)).0
                == 201)
        let mails = try await relay.waitFor(count: 2)
        #expect((try await mailCheck(mails[1])["subject"] as? String)?.hasPrefix("Booked: seat ") == true)
        let done = try await waitForStatus(server, admin) {
            ($0["delivered"] as? Int) == 2 && ($0["pending"] as? Int) == 0
        }
        #expect(done["given_up"] as? Int == 1)
        #expect(relay.messages().count == 2)  // 451s and the 550 left nothing behind
    }

    /// kill -9 with messages queued and not yet sent, and during the SMTP dialogue (the relay kept
    /// the message but never answered): after a restart every message arrives, and a message that
    /// arrives twice has the same Message-ID both times.
    @Test func killNineBeforeAndDuringTheSendLosesNoMessageAndRepeatsOnlyWithTheSameMessageID() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let relay = try await MailRelay.start(directory: dir + "/relay")
        defer { relay.stop() }
        var server = try ServerProcess(dataDirectory: dir + "/data", extra: relay.serverArguments)
        try await server.waitUntilListening()
        _ = try await Self.studentWithAddress(
            server, relay: relay, id: "M1000004", name: "Bo", address: "bo@example.edu", language: "zh-CN")
        #expect(await server.stopped() == 0)

        // A dead relay: bookings are acknowledged at once; the messages wait.
        server = try ServerProcess(
            dataDirectory: dir + "/data",
            extra: MailRelay.arguments(port: freePort()) + ["--mail-backoff-seconds", "1"])
        try await server.waitUntilListening()
        var token = try await server.login("M1000004", "long-password-1")
        let start = Timestamp(Date().timeIntervalSince1970) / 3_600 * 3_600 + 5 * 3_600
        var ids: [Int] = []
        for seat in [44, 45] {
            let (status, r) = try await server.request(
                "POST", "/reservations", token: token, json: booking(seat, start, start + 3_600))
            #expect(status == 201)
            ids.append(try #require(r["id"] as? Int))
        }
        let admin = try await server.login("admin", "admin-password")
        let waiting = try await waitForStatus(server, admin) { $0["last_error"] as? String != nil }
        #expect(waiting["pending"] as? Int == 2, "\(waiting)")
        server.child.signal(SIGKILL)
        _ = await server.child.waitForExit(timeout: 10)

        // A relay that keeps the message and never answers: killed mid-dialogue.
        let hanging = try await MailRelay.start(directory: dir + "/hanging", options: ["--store-then-hang"])
        defer { hanging.stop() }
        server = try ServerProcess(dataDirectory: dir + "/data", extra: hanging.serverArguments)
        try await server.waitUntilListening()
        token = try await server.login("M1000004", "long-password-1")
        let (status, r) = try await server.request(
            "POST", "/reservations", token: token, json: booking(46, start, start + 3_600))
        #expect(status == 201)
        ids.append(try #require(r["id"] as? Int))
        _ = try await hanging.waitFor(count: 1)
        server.child.signal(SIGKILL)
        _ = await server.child.waitForExit(timeout: 10)

        // Restarted against a working relay: every booking's confirmation arrives.
        server = try ServerProcess(dataDirectory: dir + "/data", extra: relay.serverArguments)
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let delivered = try await relay.waitFor(count: 1 + ids.count).dropFirst()
        var messageIDs: [String: String] = [:]  // reservation uid → Message-ID
        for path in Array(delivered) + hanging.messages() {
            let mail = try await mailCheck(path)
            let parts = try #require(mail["parts"] as? [[String: Any]])
            #expect(parts[0]["text"] as? String != nil && (mail["subject"] as? String)?.hasPrefix("预约成功") == true)
            let uid = try #require(((parts.last?["events"] as? [[String: Any]])?.first?["uid"]) as? String)
            let messageID = try #require(mail["message_id"] as? String)
            #expect(messageIDs[uid, default: messageID] == messageID, "\(uid) came with two Message-IDs")
            messageIDs[uid] = messageID
        }
        #expect(Set(messageIDs.keys) == Set(ids.map { "reservation-\($0)@dl-sms" }))
        #expect(Set(messageIDs.values).count == ids.count)
        let again = try await server.login("admin", "admin-password")
        let done = try await waitForStatus(server, again) { ($0["pending"] as? Int) == 0 }
        #expect(done["given_up"] as? Int == 0)
    }

    @Test func theLocalMTAThroughSendmailGetsTheSameMessage() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        try FileManager.default.createDirectory(atPath: dir + "/spool", withIntermediateDirectories: true)
        // A sendmail that keeps what it is given (the interface: -i -f FROM -- TO, the message on stdin).
        let script = dir + "/sendmail"
        try """
        #!/bin/sh
        [ "$1" = "-i" ] && [ "$2" = "-f" ] && [ "$4" = "--" ] || exit 64
        f=\(dir)/spool/$(date +%s%N).eml
        { echo "X-Envelope-To: $5"; cat; } > "$f.tmp" && mv "$f.tmp" "$f"
        """.write(toFile: script, atomically: true, encoding: .utf8)
        chmod(script, 0o755)
        let server = try ServerProcess(
            dataDirectory: dir + "/data", extra: ["--sendmail", script, "--mail-from", "library@example.edu"])
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let token = try await server.login("S2021001")
        #expect(
            try await server.request("POST", "/me/email", token: token, json: #"{"address":"alice@example.edu"}"#).0
                == 202)
        let spool = MailRelay.files(in: dir + "/spool")
        let found = try await MailRelay.wait { spool().count >= 1 }
        let mail = try await mailCheck(try #require(found ? spool().first : nil))
        #expect(mail["subject"] as? String == "Confirm your email address")
        #expect((mail["defects"] as? [String])?.isEmpty == true)
    }

    /// Only the newest confirmation link works: an older one is void once a newer one is asked
    /// for, and every one once the student removes the address; too many requests are refused.
    @Test func onlyTheNewestConfirmationLinkWorksAndRequestsAreLimited() async throws {
        let dir = temporaryDirectory()
        defer { cleanup(dir) }
        let relay = try await MailRelay.start(directory: dir + "/relay")
        defer { relay.stop() }
        let server = try ServerProcess(dataDirectory: dir + "/data", extra: relay.serverArguments)
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let token = try await server.login("S2021006")
        func ask(_ address: String) async throws -> String {
            try await confirmationLink(server, relay, token: token, address: address)
        }
        let first = try await ask("first@example.edu")
        let second = try await ask("second@example.edu")
        #expect(try await server.request("POST", "/mail/confirm?t=\(first)").0 == 400)
        #expect(try await server.request("POST", "/mail/confirm?t=\(second)").0 == 200)
        let third = try await ask("third@example.edu")
        #expect(try await server.request("DELETE", "/me/email", token: token).0 == 204)
        #expect(try await server.request("POST", "/mail/confirm?t=\(third)").0 == 400)
        let (_, prefs) = try await server.request("GET", "/me/preferences", token: token)
        #expect(prefs["email"] is NSNull, "\(prefs)")
        // Five requests an hour per student: the next is refused, with a time to wait.
        _ = try await ask("fourth@example.edu")
        _ = try await ask("fifth@example.edu")
        let (refused, body) = try await server.request(
            "POST", "/me/email", token: token, json: #"{"address":"sixth@example.edu"}"#)
        #expect(refused == 429 && body["code"] as? String == "rate_limited", "\(body)")
    }

    /// Relays that misbehave (`Tests/mail/bad_relay.py`): a greeting that never ends or trickles,
    /// a reply injected before the STARTTLS handshake, no STARTTLS, silence. Each fails as
    /// temporary (retried) within the step timeout, and nothing sent before the handshake is
    /// believed after it.
    @Test func misbehavingRelaysFailTemporarilyWithinTheTimeout() async throws {
        for mode in ["endless", "trickle", "inject", "nostarttls", "silent"] {
            let relay = try ChildProcess("/usr/bin/env", ["python3", MailRelay.script("bad_relay.py"), mode])
            defer {
                relay.signal(SIGKILL)
                _ = relay.wait(timeout: 10)
            }
            let line = await relay.waitForLine(timeout: 30) { _ in true } ?? ""
            let port = try #require(Int(line.split(separator: " ").last ?? ""), "\(mode): \(line)")
            let settings = SMTPSettings(
                host: "127.0.0.1", port: port, username: "dlsms", password: "s3cret", timeout: .seconds(2))
            let started = ContinuousClock.now
            let results = await SMTPClient.send(
                [SMTPEnvelope(from: "a@b.edu", to: "c@d.edu", data: "Subject: x\r\n\r\nx\r\n")], settings: settings)
            let took = ContinuousClock.now - started
            #expect(took < .seconds(10), "\(mode) took \(took)")
            guard case .failure(.temporary(let why))? = results.first else {
                Issue.record("\(mode): \(results)")
                continue
            }
            if mode == "inject" { #expect(why.contains("after STARTTLS"), "\(why)") }
            if mode == "nostarttls" { #expect(why.contains("does not offer STARTTLS"), "\(why)") }
        }
    }

    @Test func mailSettingsThatCannotWorkAreRefusedAtStart() async throws {
        for bad in [
            ["--smtp-host", "mail.example.edu", "--smtp-security", "none", "--mail-from", "a@example.edu"],
            ["--smtp-host", "127.evil.example", "--smtp-security", "none", "--mail-from", "a@example.edu"],
            ["--smtp-host", "127.0.0.1", "--smtp-ca-file", "/etc/hostname", "--mail-from", "a@example.edu"],
            ["--smtp-host", "127.0.0.1"],  // no sender
            ["--smtp-host", "127.0.0.1", "--mail-from", "not an address"],
            ["--smtp-host", "127.0.0.1", "--mail-from", "a@b.edu", "--sendmail", "/bin/true"],
            ["--smtp-user", "u", "--smtp-password", "p"],  // no host
            ["--smtp-host", "127.0.0.1", "--mail-from", "a@b.edu", "--smtp-user", "u"],  // no password
            [
                "--smtp-host", "127.0.0.1", "--mail-from", "a@b.edu", "--smtp-security", "none", "--smtp-user", "u",
                "--smtp-password", "p",
            ],  // a password in clear
        ] {
            let run = try await runDLSMS(
                ["serve", "--data-dir", "/nonexistent/never", "--port", "0"] + bad, timeout: 30)
            #expect(run.status != 0 && !run.timedOut, "\(bad): \(run)")
        }
    }
}

/// Asks for `address` to be the student's (202, the address pending) and returns the token of
/// the confirmation link in the email that follows.
func confirmationLink(_ server: ServerProcess, _ relay: MailRelay, token: String, address: String) async throws
    -> String
{
    let before = relay.messages().count
    let (asked, pending) = try await server.request(
        "POST", "/me/email", token: token, json: #"{"address":"\#(address)"}"#)
    #expect(asked == 202 && pending["pending"] as? String == address)
    let mail = try #require(await relay.waitFor(count: before + 1).last)
    let parts = try await mailCheck(mail)["parts"] as? [[String: Any]]
    let text = try #require(parts?.first?["text"] as? String)
    return String(try #require(text.firstMatch(of: /\/mail\/confirm\?t=([A-Za-z0-9_-]+)/)?.1))
}

/// Polls `/admin/mail` until `done` holds (at most 60 s).
func waitForStatus(_ server: ServerProcess, _ admin: String, _ done: ([String: Any]) -> Bool) async throws
    -> [String: Any]
{
    var last: [String: Any] = [:]
    let found = try await MailRelay.wait {
        last = (try? await server.request("GET", "/admin/mail", token: admin).1) ?? [:]
        return done(last)
    }
    #expect(found, "the mail status never got there: \(last)")
    return last
}

func postForm(_ server: ServerProcess, _ path: String, _ body: String) async throws -> Int {
    try await fetch(
        server.base + path, method: "POST", headers: ["Content-Type": "application/x-www-form-urlencoded"],
        body: Data(body.utf8)
    ).status
}

/// The parsed message (`Tests/mail/mail_check.py`).
func mailCheck(_ path: String) async throws -> [String: Any] {
    let run = try await runProgram("/usr/bin/env", ["python3", MailRelay.script("mail_check.py"), path])
    guard run.status == 0, let object = try JSONSerialization.jsonObject(with: Data(run.output.utf8)) as? [String: Any]
    else { throw CocoaError(.fileReadCorruptFile, userInfo: [NSLocalizedDescriptionKey: "mail_check: \(run)"]) }
    return object
}

/// The test SMTP server (`Tests/mail/smtp_server.py`): aiosmtpd on a free loopback port with a
/// self-signed certificate made here (openssl), STARTTLS required, AUTH as `dlsms`/`s3cret`.
final class MailRelay: Sendable {
    static let available = peerAvailable(pythonModule: "aiosmtpd, icalendar", programs: ["/usr/bin/openssl"])
    let directory: String
    let child: ChildProcess
    let port: Int

    static func script(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("mail").appendingPathComponent(name).path
    }

    private init(directory: String, child: ChildProcess, port: Int) {
        self.directory = directory
        self.child = child
        self.port = port
    }

    static func start(directory: String, options: [String] = []) async throws -> MailRelay {
        try FileManager.default.createDirectory(atPath: directory + "/mail", withIntermediateDirectories: true)
        let made = try await runProgram(
            "/usr/bin/openssl",
            [
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", directory + "/key.pem", "-out",
                directory + "/cert.pem", "-days", "2", "-subj", "/CN=localhost", "-addext",
                "subjectAltName=DNS:localhost,IP:127.0.0.1",
            ])
        guard made.status == 0 else {
            throw CocoaError(.fileWriteUnknown, userInfo: [NSLocalizedDescriptionKey: "\(made)"])
        }
        let child = try ChildProcess(
            "/usr/bin/env",
            [
                "python3", Self.script("smtp_server.py"), "--maildir", directory + "/mail", "--cert",
                directory + "/cert.pem", "--key", directory + "/key.pem",
            ] + options)
        let line = await child.waitForLine(timeout: 30) { _ in true } ?? ""
        let port = Int(line.split(separator: " ").last ?? "") ?? 0
        guard port > 0 else {
            child.signal(SIGKILL)
            throw CocoaError(.fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "relay: \(line)"])
        }
        return MailRelay(directory: directory, child: child, port: port)
    }

    static func arguments(port: Int, ca: String? = nil) -> [String] {
        [
            "--smtp-host", "127.0.0.1", "--smtp-port", String(port), "--smtp-user", "dlsms", "--smtp-password",
            "s3cret", "--mail-from", "library@example.edu", "--smtp-timeout-seconds", "5",
        ] + (ca.map { ["--smtp-ca-file", $0] } ?? [])
    }

    var serverArguments: [String] { Self.arguments(port: port, ca: directory + "/cert.pem") }

    func stop() {
        child.signal(SIGKILL)
        _ = child.wait(timeout: 10)
    }

    static func files(in directory: String) -> @Sendable () -> [String] {
        {
            ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
                .filter { $0.hasSuffix(".eml") }.sorted().map { directory + "/" + $0 }
        }
    }

    func messages() -> [String] { Self.files(in: directory + "/mail")() }

    /// The messages once there are at least `count` (at most 60 s).
    func waitFor(count: Int) async throws -> [String] {
        let found = try await Self.wait { self.messages().count >= count }
        #expect(found, "\(messages().count) of \(count) messages arrived")
        return messages()
    }

    /// Polls `condition` every 50 ms until it holds (true) or 60 s pass (false).
    static func wait(_ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return try await condition()
    }
}
