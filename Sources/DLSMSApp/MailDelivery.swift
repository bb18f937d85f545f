import DLSMSCore
import DLSMSEngine
import Foundation
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import Synchronization

/// Email settings: how mail leaves (none: email is off), the sender, the retry pace.
public struct MailSettings: Sendable, Hashable {
    public enum Transport: Sendable, Hashable {
        /// Submission to a relay.
        case smtp(SMTPSettings)
        /// The local MTA: `path -i -f FROM -- TO`, the message on its standard input.
        case sendmail(path: String)
    }

    public var transport: Transport?
    /// The envelope sender and the `From` address (required with a transport).
    public var from = ""
    public var fromName = "DL-SMS"
    /// A message is retried until this long after it was queued, then given up.
    public var retryForSeconds: Int64 = 24 * 3_600
    /// The first retry's delay; each further one doubles (with ±25 % jitter), up to an hour.
    public var backoffSeconds: Int64 = 30
    /// Messages sent over one connection at most.
    public var batch = 50
    /// How often reminders and check-in messages are looked for.
    public var reminderScanSeconds = 30
    /// The bounds of the outbox.
    public var queue = MailOutbox.Limits()
    /// The settings as given, before ``transport`` is made of them (at the end of parsing).
    public var drafts = Drafts()

    public struct Drafts: Sendable, Hashable {
        public var smtpHost: String?
        public var smtpPort = 587
        public var smtpSecurity = SMTPSettings.Security.starttls
        public var smtpUser: String?
        public var smtpPassword: String?
        public var smtpCAFile: String?
        public var smtpTimeoutSeconds = 30
        public var sendmail: String?
        public init() {}
    }

    public init() {}

    public var enabled: Bool { transport != nil }
}

/// What the sender knows beyond the outbox: each failing message's attempts and next try, and the
/// relay's last answer (for `GET /admin/mail` and `/metrics`).
public final class MailStatus: Sendable {
    public struct Attempt: Sendable, Hashable {
        public var attempts = 0
        public var nextAt: Timestamp = 0
        public var lastError: String?
    }

    public struct Summary: Sendable, Hashable {
        public var lastAttemptAt: Timestamp?
        public var lastDeliveryAt: Timestamp?
        public var lastError: String?
        public var lastErrorAt: Timestamp?
        public var attempts: Int = 0
    }

    struct State {
        var attempts: [Int64: Attempt] = [:]
        var summary = Summary()
    }

    let state = Mutex(State())

    public init() {}

    public var summary: Summary { state.withLock { $0.summary } }

    public func attempt(_ id: Int64) -> Attempt? { state.withLock { $0.attempts[id] } }

    /// Forgets the attempts of messages that `gone` says left the outbox.
    func forget(_ gone: (Int64) -> Bool) {
        state.withLock { s in
            for id in s.attempts.keys where gone(id) { s.attempts[id] = nil }
        }
    }

    func ready(_ id: Int64, now: Timestamp) -> Bool { state.withLock { ($0.attempts[id]?.nextAt ?? 0) <= now } }

    func noteDelivered(_ id: Int64, at now: Timestamp) {
        state.withLock { s in
            s.attempts[id] = nil
            s.summary.lastAttemptAt = now
            s.summary.lastDeliveryAt = now
            s.summary.attempts += 1
        }
    }

    func noteFailed(_ id: Int64, error: String, at now: Timestamp, backoff: Int64, final: Bool) {
        state.withLock { s in
            s.summary.lastAttemptAt = now
            s.summary.lastError = String(error.prefix(300))
            s.summary.lastErrorAt = now
            s.summary.attempts += 1
            guard !final else {
                s.attempts[id] = nil
                return
            }
            var a = s.attempts[id] ?? Attempt()
            a.attempts += 1
            let delay = Double(min(backoff << min(a.attempts - 1, 20), 3_600)) * Double.random(in: 0.75...1.25)
            a.nextAt = now + max(1, Int64(delay.rounded()))
            a.lastError = String(error.prefix(300))
            s.attempts[id] = a
        }
    }
}

/// Sends the outbox: batches of due messages in id order over one connection (or one `sendmail`
/// each), each settled by a journal record once the relay took it (250 after DATA) or refused it
/// for good (5xx). A temporary failure (4xx, a dead relay, a timeout) puts that message back with
/// a growing delay and never holds the others; a message still failing `retryForSeconds` after it
/// was queued is given up. Also queues the reminders every `reminderScanSeconds`. A standby sends
/// nothing: its primary does.
package struct MailDeliveryService: Service {
    package let service: LibraryService
    package let logger: Logger

    package init(service: LibraryService, logger: Logger) {
        self.service = service
        self.logger = logger
    }

    package func run() async throws {
        let settings = service.configuration.mail
        guard let transport = settings.transport else {
            // Email is off: nothing to do until the server stops (a service that returned early
            // would stop the whole group).
            try? await gracefulShutdown()
            return
        }
        let composer = MailComposer(
            fromName: settings.fromName, fromAddress: settings.from,
            links: MailLinks(secret: service.tokenSecret, base: service.configuration.publicBase))
        // At shutdown a send in progress is cancelled (a relay that hangs must not hold the
        // process): the message was not settled, so it is sent again after the restart.
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await scanReminders(every: settings.reminderScanSeconds) }
                group.addTask { await send(transport, composer: composer, settings: settings) }
                await group.waitForAll()
            }
        }
    }

    func scanReminders(every seconds: Int) async {
        while !Task.isCancelled {
            if service.replication.acceptsWrites {
                do {
                    try await service.engine.queueMailReminders(now: service.engine.clock.now())
                } catch {
                    logger.warning("email reminders not queued", metadata: ["error": "\(error)"])
                }
            }
            try? await Task.sleep(for: .seconds(seconds))
        }
    }

    func send(_ transport: MailSettings.Transport, composer: MailComposer, settings: MailSettings) async {
        let outbox = service.engine.mail
        let status = service.mailStatus
        while !Task.isCancelled {
            let now = service.engine.clock.now()
            guard service.replication.acceptsWrites,
                let batch = await outbox.due(limit: settings.batch, ready: { status.ready($0.id, now: now) }),
                !batch.isEmpty
            else {
                status.forget { !outbox.isPending($0) }  // settled elsewhere (an erasure)
                try? await Task.sleep(for: .milliseconds(250))
                continue
            }
            var envelopes: [SMTPEnvelope] = []
            for m in batch {
                let seat = m.seatID == 0 ? nil : await service.engine.seats([m.seatID])[m.seatID]
                let user = service.engine.user(id: m.userID)
                let name = user.map { $0.name.isEmpty ? $0.studentID : $0.name } ?? ""
                let message = composer.compose(m, seat: seat, name: name, zone: service.engine.zone(ofSeat: m.seatID))
                envelopes.append(SMTPEnvelope(from: settings.from, to: m.to, data: message.rendered()))
            }
            let results = await deliver(envelopes, transport: transport)
            var settlements: [MailSettlement] = []
            let done = service.engine.clock.now()
            for (m, result) in zip(batch, results) {
                switch result {
                case .success:
                    status.noteDelivered(m.id, at: done)
                    settlements.append(MailSettlement(id: m.id, outcome: .delivered, at: done))
                case .failure(.notAttempted):
                    continue  // its turn comes in the next round
                case .failure(let error):
                    let final = error.isPermanent || done - m.createdAt >= settings.retryForSeconds
                    status.noteFailed(
                        m.id, error: error.description, at: done, backoff: settings.backoffSeconds, final: final)
                    if final {
                        logger.warning(
                            "email given up",
                            metadata: ["message": "\(m.id)", "kind": "\(m.kind.name)", "error": "\(error)"])
                        settlements.append(MailSettlement(id: m.id, outcome: .givenUp, at: done))
                    }
                }
            }
            do {
                try await service.engine.settleMail(settlements)
            } catch {
                logger.error("email outcomes not recorded", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: .seconds(1))
            }
        }
    }

    func deliver(_ envelopes: [SMTPEnvelope], transport: MailSettings.Transport) async -> [Result<Void, SMTPError>] {
        switch transport {
        case .smtp(let smtp):
            return await SMTPClient.send(envelopes, settings: smtp, group: MultiThreadedEventLoopGroup.singleton)
        case .sendmail(let path):
            var out: [Result<Void, SMTPError>] = []
            for e in envelopes { out.append(await Sendmail.send(e, path: path)) }
            return out
        }
    }
}

/// The local MTA's `sendmail` interface: `-i` (a lone dot is not the end), `-f` the envelope
/// sender, the recipient after `--`. Exit 0: taken; 75 (`EX_TEMPFAIL`) or a signal: try again;
/// any other status: refused for good.
package enum Sendmail {
    package static func send(_ e: SMTPEnvelope, path: String) async -> Result<Void, SMTPError> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = ["-i", "-f", e.from, "--", e.to]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        let status: Int32 = await withCheckedContinuation { c in
            process.terminationHandler = {
                c.resume(returning: $0.terminationReason == .exit ? $0.terminationStatus : -1)
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                c.resume(returning: -2)
                return
            }
            let data = Data(e.data.replacingOccurrences(of: "\r\n", with: "\n").utf8)
            try? input.fileHandleForWriting.write(contentsOf: data)
            try? input.fileHandleForWriting.close()
        }
        switch status {
        case 0: return .success(())
        case -2: return .failure(.temporary("\(path) cannot be started"))
        case -1, 75: return .failure(.temporary("\(path) failed (status \(status)); trying again"))
        default: return .failure(.permanent("\(path) refused the message (status \(status))"))
        }
    }
}
