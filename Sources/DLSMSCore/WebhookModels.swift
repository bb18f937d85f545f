/// Webhooks: endpoints the staff register, and the events the server sends them.

/// An event for the webhook outbox: recorded in the journal right after the change it reports,
/// so a crash loses none, and delivered to each endpoint that subscribes, in id order.
public struct WebhookEvent: Sendable, Hashable {
    public var id: Int64
    /// One of ``WebhookEvent/types``.
    public var type: String
    public var createdAt: Timestamp
    /// The body sent: `{"id", "type", "created_at", "data": {…}}`.
    public var payload: String

    public init(id: Int64, type: String, createdAt: Timestamp, payload: String) {
        self.id = id
        self.type = type
        self.createdAt = createdAt
        self.payload = payload
    }

    public static let types = [
        "reservation.created", "reservation.cancelled", "reservation.checked_in", "reservation.no_show",
        "reservation.completed", "waitlist.notified", "closure.created",
    ]
}

/// A registered receiver.
public struct WebhookEndpoint: Sendable, Hashable {
    public var id: Int64
    public var url: String
    /// The HMAC-SHA256 key of the signatures (shown only when the endpoint is created).
    public var secret: String
    /// The event types sent to it.
    public var events: [String]
    /// A removed endpoint stays as a record (its cursor keeps event ids from being reused).
    public var active: Bool
    /// Every event up to this id has been delivered, or given up on.
    public var deliveredThrough: Int64
    public var createdAt: Timestamp
    /// Events delivered, and given up on, since the endpoint was registered (moved with the cursor).
    public var delivered: Int64
    public var givenUp: Int64

    public init(
        id: Int64, url: String, secret: String, events: [String], active: Bool = true, deliveredThrough: Int64,
        createdAt: Timestamp, delivered: Int64 = 0, givenUp: Int64 = 0
    ) {
        self.id = id
        self.url = url
        self.secret = secret
        self.events = events
        self.active = active
        self.deliveredThrough = deliveredThrough
        self.createdAt = createdAt
        self.delivered = delivered
        self.givenUp = givenUp
    }
}
