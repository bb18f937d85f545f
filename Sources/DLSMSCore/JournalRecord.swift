/// Which reservation left memory for the archive, and where it was.
public struct ArchivedReservation: Sendable, Hashable {
    public var id: ReservationID
    public var seatID: SeatID
    public var userID: UserID

    public init(id: ReservationID, seatID: SeatID, userID: UserID) {
        self.id = id
        self.seatID = seatID
        self.userID = userID
    }
}

/// A node became the primary of a replicated cluster: the epoch it leads in. Epochs only
/// increase; the record is the first one the new primary writes.
public struct EpochChange: Sendable, Hashable {
    public var epoch: UInt64
    /// The node's name (`--node-name`).
    public var node: String
    public var at: Timestamp

    public init(epoch: UInt64, node: String, at: Timestamp) {
        self.epoch = epoch
        self.node = node
        self.at = at
    }
}

public struct IDFloor: Sendable, Hashable {
    public var reservation: ReservationID
    public var waitlistEntry: WaitlistEntryID
    public var notification: NotificationID
    /// The id the next webhook event gets at least (0: not recorded). Snapshots no longer carry
    /// the events still owed (they are in the outbox's spools), so this keeps their ids.
    public var webhookEvent: Int64

    public init(
        reservation: ReservationID, waitlistEntry: WaitlistEntryID, notification: NotificationID,
        webhookEvent: Int64 = 0
    ) {
        self.reservation = reservation
        self.waitlistEntry = waitlistEntry
        self.notification = notification
        self.webhookEvent = webhookEvent
    }
}

/// One state change of the engine, as the write-ahead log will carry it.
///
/// Each record states the resulting value (not a delta), so applying a record twice gives the
/// same state as applying it once.
public enum JournalRecord: Sendable, Hashable {
    /// A branch was added or changed (by name).
    case branchDefined(Branch)
    /// A seat was added or changed (maintenance flag, description).
    case seatDefined(Seat)
    case userCreated(User)
    /// An account's new state: password, name, role, disabled flag or token generation changed.
    case userChanged(User)
    case reservationCreated(Reservation)
    /// A reservation's new status (check-in, cancel, no-show, completion, early checkout with its new end).
    case reservationChanged(Reservation)
    case waitlistChanged(WaitlistEntry)
    case notificationCreated(UserNotification)
    /// The ids the next reservation, waitlist entry, notification and webhook event get at least.
    /// A snapshot ends with it, because the holders of the highest ids may have left memory
    /// (archive, or the outbox's spools).
    case idFloor(IDFloor)
    /// Reservations that moved to the archive file and left memory (replay drops them again).
    case reservationsArchived([ArchivedReservation])
    /// A webhook endpoint's new state (registered, removed, or its delivery cursor moved).
    case webhookEndpoint(WebhookEndpoint)
    /// An event for the webhook outbox.
    case webhookEvent(WebhookEvent)
    /// A new primary's epoch (replication): the state does not change, the log's history does.
    case epoch(EpochChange)
    /// One session token signed out: refused from now until it would have expired.
    case sessionRevoked(SessionRevocation)
    /// A group's policy set (or removed: ``GroupPolicy/removed``).
    case groupPolicy(GroupPolicy)
    /// The groups staff gave one student (the whole list).
    case groupMembership(GroupMembership)
    /// A strike recorded, or its new state (removed by staff).
    case strike(Strike)
    /// Staff lifted a student's suspension.
    case suspensionLifted(SuspensionLift)
    /// Reservation records that take effect together or not at all (a move: the old seat freed
    /// and the new one taken; seats booked together): one WAL record, so a crash keeps all or
    /// none. Holds only ``reservationCreated(_:)`` and ``reservationChanged(_:)`` records.
    case together([JournalRecord])
    /// An entry of the audit trail (``AuditEntry``), in the chain's order.
    case audit(AuditEntry)
    /// Finished reservations whose link to their student is cut (retention, or an erasure): each
    /// now belongs to ``UserID/anonymous`` (the list's user ids are that); everything the reports
    /// count stays.
    case reservationsAnonymised([ArchivedReservation])
    /// An account's personal data erased (``AccountErasure``).
    case accountErased(AccountErasure)
    /// An email queued in the outbox (in the same journal step as the change it is about).
    case mailQueued(MailItem)
    /// A queued email sent, given up on or dropped.
    case mailSettled(MailSettlement)
}

/// A signed-out token: the first ``digestBytes`` bytes of the SHA-256 of its text, whose account
/// it was, and when it would have expired (after which the entry is dropped: the token is refused
/// for its expiry anyway).
public struct SessionRevocation: Sendable, Hashable {
    public var userID: UserID
    public var digest: [UInt8]
    public var expiresAt: Timestamp

    public static let digestBytes = 16

    public init(userID: UserID, digest: [UInt8], expiresAt: Timestamp) {
        precondition(digest.count == Self.digestBytes, "a revocation names a token by 16 bytes of its SHA-256")
        self.userID = userID
        self.digest = digest
        self.expiresAt = expiresAt
    }
}
