import DLSMSCore
import Synchronization

/// Accounts: by id and by student id. Read on every authenticated request, written on registration.
final class UserDirectory: Sendable {
    private struct State {
        var users: [User] = []  // index = id - 1
        var byStudentID: [String: UserID] = [:]
        /// Erased accounts (``User/isErased``), for the sweep that finishes interrupted erasures.
        var erased: Set<UserID> = []
    }

    private let state = Mutex(State())

    /// Creates an account with the next id and appends its record under the same lock (so a
    /// snapshot never sees the account without its record); `duplicateUser` if the id is taken.
    func create(
        studentID: String, name: String, role: Role, passwordHash: String, now: Timestamp, journal: any Journal,
        details: (inout User) -> Void = { _ in }
    ) throws(EngineError) -> (User, JournalTicket) {
        let result: Result<(User, JournalTicket), EngineError> = state.withLock { s in
            guard s.byStudentID[studentID] == nil else { return .failure(.duplicateUser) }
            var user = User(
                id: UserID(s.users.count + 1), studentID: studentID, name: name, role: role,
                passwordHash: passwordHash, createdAt: now)
            details(&user)
            precondition(
                user.id == UserID(s.users.count + 1) && user.studentID == studentID, "an account keeps its ids")
            do throws(EngineError) {
                let ticket = try journal.append(user.isAsCreated ? .userCreated(user) : .userChanged(user))
                s.users.append(user)
                s.byStudentID[studentID] = user.id
                return .success((user, ticket))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Changes an account and appends its `userChanged` record under the same lock; returns the
    /// old and new values.
    func update(id: UserID, journal: any Journal, _ change: (inout User) -> Void) throws(EngineError)
        -> (old: User, new: User, ticket: JournalTicket)
    {
        let result: Result<(User, User, JournalTicket), EngineError> = state.withLock { s in
            let i = Int(id) - 1
            guard i >= 0, i < s.users.count, !s.users[i].studentID.isEmpty else { return .failure(.userNotFound) }
            let old = s.users[i]
            var user = old
            change(&user)
            precondition(user.id == old.id && user.studentID == old.studentID, "an account keeps its ids")
            do throws(EngineError) {
                let ticket = try journal.append(.userChanged(user))
                s.users[i] = user
                return .success((old, user, ticket))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Stores a user as recorded (replay). Idempotent.
    func restore(_ user: User) {
        state.withLock { s in
            let i = Int(user.id) - 1
            precondition(i >= 0, "user ids start at 1")
            while s.users.count <= i {
                s.users.append(
                    User(
                        id: UserID(s.users.count + 1), studentID: "", name: "", role: .student, passwordHash: "",
                        createdAt: 0))
            }
            if !s.users[i].studentID.isEmpty { s.byStudentID[s.users[i].studentID] = nil }
            s.users[i] = user
            s.byStudentID[user.studentID] = user.id
            if user.isErased { s.erased.insert(user.id) }
        }
    }

    /// The erased accounts' ids.
    var erased: Set<UserID> { state.withLock { $0.erased } }

    func user(id: UserID) -> User? {
        state.withLock { s in
            let i = Int(id) - 1
            guard i >= 0, i < s.users.count, !s.users[i].studentID.isEmpty else { return nil }
            return s.users[i]
        }
    }

    func user(studentID: String) -> User? {
        state.withLock { s in s.byStudentID[studentID].map { s.users[Int($0) - 1] } }
    }

    var all: [User] { state.withLock { $0.users.filter { !$0.studentID.isEmpty } } }

    /// A page of the accounts by id, and how many there are: a copy of the page only, whatever the
    /// number of accounts.
    func page(offset: Int, limit: Int) -> (users: [User], total: Int) {
        state.withLock { s in
            let total = s.byStudentID.count
            if s.users.count == total {  // no gaps (the usual case): the page is a slice
                let from = min(offset, total)
                return (Array(s.users[from..<min(total, from + limit)]), total)
            }
            var page: [User] = []
            var skipped = 0
            for u in s.users where !u.studentID.isEmpty {
                if skipped < offset {
                    skipped += 1
                } else {
                    page.append(u)
                    if page.count == limit { break }
                }
            }
            return (page, total)
        }
    }

    var count: Int { state.withLock { $0.byStudentID.count } }
}
