/// Seconds since 1970-01-01T00:00:00Z. All engine times are whole seconds, UTC.
public typealias Timestamp = Int64
public typealias SeatID = Int32
public typealias UserID = Int32
public typealias ReservationID = Int64
public typealias WaitlistEntryID = Int64
public typealias NotificationID = Int64

/// Time constants in seconds.
public enum Seconds {
    public static let minute: Int64 = 60
    public static let hour: Int64 = 3_600
    public static let day: Int64 = 86_400
}
