import DLSMSApp
import DLSMSCore
import Foundation

/// The settings of email: how it leaves (an SMTP relay or the local `sendmail`), the sender, the
/// retry pace and the outbox's bounds.
extension ServerSettings {
    static let mailTable: [Setting] = transportTable + outboxTable

    private static let transportTable: [Setting] = [
        setting(
            "smtp-host", "SMTP_HOST", "none (email is off)",
            "The SMTP relay students' emails are submitted to (turns email on; or --sendmail)."
        ) { c, v in
            guard !v.isEmpty, v.utf8.count <= 253, !v.contains(where: { $0.isWhitespace || $0 == "/" }) else {
                throw ConfigurationError("must be a host name or address")
            }
            c.mail.drafts.smtpHost = v
        },
        setting("smtp-port", "SMTP_PORT", "587 (465 with --smtp-security tls)", "The relay's port.") { c, v in
            c.mail.drafts.smtpPort = try integer(v, 1...65_535)
        },
        setting(
            "smtp-security", "SMTP_SECURITY", "starttls",
            "starttls (required: a relay without it is refused) | tls (from the first byte) | none (loopback relays only)."
        ) { c, v in c.mail.drafts.smtpSecurity = try choice(v, SMTPSettings.Security.self) },
        setting("smtp-user", "SMTP_USER", "none", "The user for AUTH PLAIN or LOGIN (with --smtp-password).") { c, v in
            c.mail.drafts.smtpUser = v
        },
        setting("smtp-password", "SMTP_PASSWORD", "none", "The relay password (better in the environment).") { c, v in
            c.mail.drafts.smtpPassword = v
        },
        setting(
            "smtp-ca-file", "SMTP_CA_FILE", "the system's trust store",
            "A PEM file of the certificates that may sign the relay's (e.g. a campus CA)."
        ) { c, v in
            guard FileManager.default.isReadableFile(atPath: v) else { throw ConfigurationError("cannot read '\(v)'") }
            c.mail.drafts.smtpCAFile = v
        },
        setting("smtp-timeout-seconds", "SMTP_TIMEOUT_SECONDS", "30", "Each step of the SMTP dialogue, at most.") {
            c, v in c.mail.drafts.smtpTimeoutSeconds = try integer(v, 1...600)
        },
        setting(
            "sendmail", "SENDMAIL", "none",
            "Hand emails to the local MTA through this sendmail program instead of SMTP (e.g. /usr/sbin/sendmail)."
        ) { c, v in
            guard FileManager.default.isExecutableFile(atPath: v) else {
                throw ConfigurationError("'\(v)' is not an executable file")
            }
            c.mail.drafts.sendmail = v
        },
        setting("mail-from", "MAIL_FROM", "none (required with email)", "The sender address of every email.") {
            c, v in c.mail.from = try MailAddress.check(v)
        },
        setting("mail-from-name", "MAIL_FROM_NAME", "DL-SMS", "The sender's name (UTF-8).") { c, v in
            guard !v.isEmpty, v.utf8.count <= 100, !v.contains(where: \.isNewline) else {
                throw ConfigurationError("must be 1–100 bytes on one line")
            }
            c.mail.fromName = v
        },
    ]

    private static let outboxTable: [Setting] = [
        setting(
            "mail-retry-hours", "MAIL_RETRY_HOURS", "24",
            "An email the relay does not take is retried (doubling from --mail-backoff-seconds, up to an hour) this long, then given up."
        ) { c, v in c.mail.retryForSeconds = Int64(try integer(v, 1...720)) * 3_600 },
        setting("mail-backoff-seconds", "MAIL_BACKOFF_SECONDS", "30", "The first retry's delay.") { c, v in
            c.mail.backoffSeconds = Int64(try integer(v, 1...3_600))
        },
        setting(
            "mail-queue", "MAIL_QUEUE", "10000",
            "Emails waiting at most; beyond it (or --mail-queue-per-student) new ones are not queued, and counted."
        ) { c, v in c.mail.queue.maxPending = try integer(v, 1...million) },
        setting("mail-queue-per-student", "MAIL_QUEUE_PER_STUDENT", "20", "Emails waiting per student at most.") {
            c, v in c.mail.queue.perStudent = try integer(v, 1...10_000)
        },
        setting(
            "mail-reminder-scan-seconds", "MAIL_REMINDER_SCAN_SECONDS", "30",
            "How often reminders and check-in emails are looked for."
        ) { c, v in c.mail.reminderScanSeconds = try integer(v, 1...3_600) },
    ]

    /// Makes the transport of the drafts: SMTP or sendmail (not both), with a sender.
    static func finishMail(_ c: inout AppConfiguration) throws(ConfigurationError) {
        let d = c.mail.drafts
        switch (d.smtpHost, d.sendmail) {
        case (nil, nil):
            guard d.smtpUser == nil, d.smtpPassword == nil, d.smtpCAFile == nil else {
                throw ConfigurationError("the SMTP settings need --smtp-host")
            }
            return
        case (.some, .some): throw ConfigurationError("--smtp-host and --sendmail exclude each other")
        case (nil, .some(let path)): c.mail.transport = .sendmail(path: path)
        case (.some(let host), nil):
            guard (d.smtpUser == nil) == (d.smtpPassword == nil) else {
                throw ConfigurationError("--smtp-user and --smtp-password go together")
            }
            let port = d.smtpSecurity == .tls && d.smtpPort == 587 ? 465 : d.smtpPort
            let smtp = SMTPSettings(
                host: host, port: port, security: d.smtpSecurity, username: d.smtpUser, password: d.smtpPassword,
                heloName: "dl-sms", caFile: d.smtpCAFile, timeout: .seconds(d.smtpTimeoutSeconds))
            do { try smtp.validate() } catch { throw ConfigurationError("\(error)") }
            c.mail.transport = .smtp(smtp)
        }
        guard !c.mail.from.isEmpty else { throw ConfigurationError("email needs a sender: --mail-from") }
    }
}
