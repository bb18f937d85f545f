import DLSMSCore

extension SeatEngine {
    /// Queues the reminders and check-in messages due at `now` (each at most once per
    /// reservation): a reminder `reminderMinutes` before the start (unless the reservation was made
    /// after that), a check-in message when its window opens (unless made after that). Returns how
    /// many were queued.
    @discardableResult
    public func queueMailReminders(now: Timestamp) async throws(EngineError) -> Int {
        guard mail.isEnabled else { return 0 }
        try context.health.check()
        mail.forgetReminders(endedBefore: now)
        let horizon = now + Int64(MailPreferences.maxReminderMinutes) * Seconds.minute + 1
        var last: JournalTicket?
        var queued = 0
        for shard in shards {
            for (r, opens, closes) in await shard.confirmed(overlapping: now, horizon) where r.end > now {
                for kind in [MailKind.reminder, .checkIn] where !mail.reminded(r.id, kind) {
                    guard let (to, language) = mail.recipient(r.userID, kind: kind) else { continue }
                    let due: Bool
                    if kind == .reminder {
                        let lead = Int64(users.user(id: r.userID)?.mail.reminderMinutes ?? 0) * Seconds.minute
                        due = r.start > now && r.start - lead <= now && r.createdAt < r.start - lead
                    } else {
                        due = opens <= now && now < closes && r.createdAt < opens
                    }
                    guard due else { continue }
                    let draft = MailItem(
                        id: 0, userID: r.userID, kind: kind, createdAt: 0, to: to, language: language, reference: r.id,
                        seatID: r.seatID, start: r.start, end: r.end)
                    if let ticket = try mail.enqueue(draft, journal: context.journal) {
                        last = ticket
                        queued += 1
                    }
                }
            }
        }
        if let last { try await context.health.commit(last) }
        return queued
    }
}
