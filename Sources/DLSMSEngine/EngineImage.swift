import DLSMSCore

/// A copy of the engine's state, iterable as the records that rebuild it (a snapshot's content):
/// branches, seats, users, reservations, waitlist entries, notifications.
public struct EngineImage: Sequence, Sendable {
    public var branches: [Branch] = []
    public var seats: [Seat] = []
    public var users: [User] = []
    var parts: [SlotStore] = []
    public var waitlist: [WaitlistEntry] = []
    public var notifications: [UserNotification] = []
    /// Webhook endpoints (the events owed to them are in their spools, not in the image).
    public var webhooks: [JournalRecord] = []
    /// The next ids (the last record of a snapshot).
    public var idFloor: IDFloor?
    /// The epoch of the cluster's primary that wrote this state (replication), if any.
    public var epoch: EpochChange?
    /// Signed-out tokens that have not expired yet.
    public var revocations: [SessionRevocation] = []
    /// Group policies, staff-given groups, strikes and suspension lifts.
    public var policies: [JournalRecord] = []
    /// The audit trail (its entries within the retention, oldest first).
    public var audit: [AuditEntry] = []
    /// The email outbox: pending messages, and the reminders sent for reservations to come.
    public var mail: [JournalRecord] = []

    /// Stored reservations (live slots only).
    public var reservationCount: Int {
        parts.reduce(0) { total, part in total + part.indices.reduce(0) { $0 + (part.id(at: $1) != 0 ? 1 : 0) } }
    }

    public struct Iterator: IteratorProtocol {
        let image: EngineImage
        var section = 0
        var part = 0
        var index = 0

        public mutating func next() -> JournalRecord? {
            while true {
                switch section {
                case 0:
                    if index < image.branches.count {
                        defer { index += 1 }
                        return .branchDefined(image.branches[index])
                    }
                case 1:
                    if index < image.seats.count {
                        defer { index += 1 }
                        return .seatDefined(image.seats[index])
                    }
                case 2:
                    if index < image.users.count {
                        defer { index += 1 }
                        let user = image.users[index]
                        return user.isAsCreated ? .userCreated(user) : .userChanged(user)
                    }
                case 3:
                    while part < image.parts.count {
                        let slots = image.parts[part]
                        while index < slots.count {
                            defer { index += 1 }
                            if slots.id(at: index) != 0 { return .reservationCreated(slots[index]) }
                        }
                        part += 1
                        index = 0
                    }
                case 4:
                    if index < image.waitlist.count {
                        defer { index += 1 }
                        return .waitlistChanged(image.waitlist[index])
                    }
                case 5:
                    if index < image.notifications.count {
                        defer { index += 1 }
                        return .notificationCreated(image.notifications[index])
                    }
                case 6:
                    if index < image.webhooks.count {
                        defer { index += 1 }
                        return image.webhooks[index]
                    }
                case 7:
                    if index == 0, let floor = image.idFloor {
                        index += 1
                        return .idFloor(floor)
                    }
                case 8:
                    if index == 0, let epoch = image.epoch {
                        index += 1
                        return .epoch(epoch)
                    }
                case 9:
                    if index < image.revocations.count {
                        defer { index += 1 }
                        return .sessionRevoked(image.revocations[index])
                    }
                case 10, 12:
                    let list = section == 10 ? image.policies : image.mail
                    if index < list.count {
                        defer { index += 1 }
                        return list[index]
                    }
                case 11:
                    if index < image.audit.count {
                        defer { index += 1 }
                        return .audit(image.audit[index])
                    }
                default:
                    return nil
                }
                section += 1
                index = 0
            }
        }
    }

    public func makeIterator() -> Iterator { Iterator(image: self) }
}
