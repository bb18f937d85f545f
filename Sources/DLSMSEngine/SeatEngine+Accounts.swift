import DLSMSCore
import Foundation
import Synchronization

/// Accounts: creating and changing them, looking them up.
extension SeatEngine {
    // MARK: - Accounts

    /// Creates an account. The caller hashes the password; the engine never sees it.
    /// `details` sets what an account of a campus identity has beyond these (source, email,
    /// groups), in the same record.
    public func register(
        studentID: String, name: String, passwordHash: String, role: Role = .student,
        details: (inout User) -> Void = { _ in }
    ) async throws(EngineError) -> User {
        try BookingRules.validateStudentID(studentID)
        try BookingRules.validateName(name)
        try context.health.check()
        let (user, ticket) = try users.create(
            studentID: studentID, name: name, role: role, passwordHash: passwordHash, now: clock.now(),
            journal: context.journal, details: details)
        try await context.health.commit(ticket)
        return user
    }

    /// Changes an account (password, name, role, disabled flag, token generation), durably.
    @discardableResult
    public func updateUser(id: UserID, _ change: (inout User) -> Void) async throws(EngineError) -> User {
        // An erased account is no one's: nothing is set on it again.
        guard users.user(id: id)?.isErased != true else { throw .userNotFound }
        try context.health.check()
        let (old, new, ticket) = try users.update(id: id, journal: context.journal) { user in
            let before = user
            change(&user)
            // Recovering an account (new password, sessions revoked) voids its calendar feed too.
            if user.passwordHash != before.passwordHash || user.tokenGeneration != before.tokenGeneration {
                user.calendarFeed = []
            }
        }
        try await context.health.commit(ticket)
        if new.groups != old.groups { context.policies.forget(user: id) }
        if new.disabled || new.tokenGeneration != old.tokenGeneration {
            notifications.finishStreams(of: id)  // their tokens no longer work: neither do their streams
        }
        return new
    }

    /// Signs one token out, durably: `false` when the bounds of ``SessionRevocations`` leave no
    /// room (the caller then ends all the account's sessions instead).
    public func revokeSession(_ revocation: SessionRevocation) async throws(EngineError) -> Bool {
        try context.health.check()
        guard revocations.hasRoom(for: revocation.userID, now: clock.now()) else { return false }
        let ticket = try context.health.append(.sessionRevoked(revocation), to: context.journal)
        revocations.restore(revocation)
        try await context.health.commit(ticket)
        return true
    }

    /// Whether the token of this digest was signed out.
    public func isRevoked(_ digest: [UInt8]) -> Bool { revocations.contains(digest) }
    /// Whether any token is signed out (the check of every request is skipped while none is).
    public var hasRevokedSessions: Bool { !revocations.isEmpty }
    public var revokedSessionCount: Int { revocations.count }

    public func user(id: UserID) -> User? { users.user(id: id) }
    public func user(studentID: String) -> User? { users.user(studentID: studentID) }
    public var userCount: Int { users.count }
}
