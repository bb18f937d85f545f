/// An email waiting in the outbox: who it is for, what it is about, and where it goes (the
/// address and language when it was queued). It is rendered when it is sent.
public struct MailItem: Sendable, Hashable {
    public var id: Int64
    public var userID: UserID
    public var kind: MailKind
    public var createdAt: Timestamp
    public var to: String
    /// `en`, `de` or `zh-CN` (empty: English).
    public var language: String
    /// The reservation it is about, or the waitlist entry of an offer (0: none).
    public var reference: Int64
    public var seatID: SeatID
    public var start: Timestamp
    public var end: Timestamp
    /// The notification's English text (a no-show, an offer, a cancellation, a strike, a
    /// suspension), or an address confirmation's token.
    public var text: String

    public init(
        id: Int64, userID: UserID, kind: MailKind, createdAt: Timestamp, to: String, language: String,
        reference: Int64 = 0, seatID: SeatID = 0, start: Timestamp = 0, end: Timestamp = 0, text: String = ""
    ) {
        self.id = id
        self.userID = userID
        self.kind = kind
        self.createdAt = createdAt
        self.to = to
        self.language = language
        self.reference = reference
        self.seatID = seatID
        self.start = start
        self.end = end
        self.text = text
    }

    /// The stable `Message-ID` (without the angle brackets' domain): the same for every attempt,
    /// so a message sent again after a crash is recognisable.
    public var messageKey: String { "dlsms.\(id).\(createdAt).\(userID)" }
}

/// What became of a queued email.
public struct MailSettlement: Sendable, Hashable {
    public enum Outcome: UInt8, Sendable, Hashable {
        /// The relay took it (250 after DATA), or `sendmail` exited 0.
        case delivered = 0
        /// Refused for good (5xx), or still failing when its time ran out.
        case givenUp = 1
        /// No longer to be sent (its account was erased, or it turned that kind off).
        case dropped = 2
    }

    public var id: Int64
    public var outcome: Outcome
    public var at: Timestamp

    public init(id: Int64, outcome: Outcome, at: Timestamp) {
        self.id = id
        self.outcome = outcome
        self.at = at
    }
}
