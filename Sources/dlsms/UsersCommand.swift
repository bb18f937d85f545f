import ArgumentParser
import DLSMSApp
import DLSMSAssembly
import DLSMSCore
import DLSMSEngine
import DLSMSReplication
import DLSMSStorage
import Foundation

/// Opens an existing data directory for an offline change, under its lock; `body` runs on the
/// recovered engine, then a snapshot is written and the log closed.
func withDataDirectory<T>(_ path: String, _ body: (SeatEngine) async throws -> T) async throws -> T {
    guard FileManager.default.fileExists(atPath: path) else { throw fail("no data directory at \(path)") }
    let lock = try lockDataDirectory(path)
    let dir = DataDirectory(path: path)
    let empty = try dir.snapshots().isEmpty && dir.segments().isEmpty
    guard !empty else {
        throw fail("\(path) holds no data (start `dlsms serve --data-dir \(path)` once to create it)")
    }
    let (durable, _) = try await DurableEngine.open(
        PersistenceConfiguration(directory: path), engine: EngineConfiguration(webhookPayload: Render.webhookPayload),
        log: { FileHandle.standardError.write(Data(($0 + "\n").utf8)) })
    do {
        let result = try await body(durable.engine)
        if let problem = await durable.close() { throw fail("the change is in the WAL, but \(problem)") }
        withExtendedLifetime(lock) {}
        return result
    } catch let e as EngineError {
        await durable.close(finalSnapshot: false)
        throw fail(e.message)
    } catch {
        await durable.close(finalSnapshot: false)
        throw error
    }
}

/// The state of a data directory read into memory without its lock and without changing it
/// (works while the server runs: a torn tail is left alone).
func readOnlyEngine(_ path: String) async throws -> SeatEngine {
    guard FileManager.default.fileExists(atPath: path) else { throw fail("no data directory at \(path)") }
    let state = try DataDirectory(path: path).recover(repairTornTail: false)
    let engine = SeatEngine(configuration: EngineConfiguration(shardCount: 1))
    await engine.apply(batch: state.snapshotRecords)
    await engine.apply(batch: state.records.lazy.map(\.record))
    return engine
}

/// `dlsms users …`: accounts on a data directory, offline (the server must be stopped: the data
/// directory's lock says so otherwise).
struct UsersCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "users",
        abstract: "List, create, disable and enable accounts, reset passwords and revoke sessions (offline).",
        subcommands: [List.self, Create.self, ResetPassword.self, Disable.self, Enable.self, RevokeSessions.self])

    struct PasswordOptions: ParsableArguments {
        @Flag(name: .customLong("password-stdin"), help: "Read the new password from the first line of standard input.")
        var fromStdin = false
        @Option(name: .customLong("bcrypt-cost"), help: "bcrypt cost of the new hash (4–31).") var cost = 12

        func validate() throws {
            guard (4...31).contains(cost) else { throw ValidationError("bcrypt cost must be 4…31") }
        }

        /// The password read from standard input, or a new random one (then printed).
        func password() throws -> (String, generated: Bool) {
            guard fromStdin else { return (DLSMSServer.randomPassword(), true) }
            guard let line = readLine(strippingNewline: true), line.count >= 8, line.utf8.count <= 72,
                !line.utf8.contains(0)
            else { throw fail("the password must be 8 to 72 bytes, on the first line of standard input") }
            return (line, false)
        }

        func hash(_ password: String) throws -> String {
            guard let h = Bcrypt.hash(password, cost: cost) else { throw fail("libcrypt could not hash the password") }
            return h
        }
    }

    static func find(_ engine: SeatEngine, _ studentID: String) throws -> User {
        guard let user = engine.user(studentID: studentID) else { throw fail("no account '\(studentID)'") }
        return user
    }

    /// One line per account; a name's control and text-direction characters are shown escaped,
    /// so a name can never forge a line or move the cursor.
    static func describe(_ u: User) -> String {
        "\(u.id)\t\(u.studentID)\t\(u.role.name)\t\(u.disabled ? "disabled" : "enabled")\t\(escaped(u.name))"
    }

    static func escaped(_ text: String) -> String {
        var out = ""
        for u in text.unicodeScalars {
            let v = u.value
            if v < 0x20 || (0x7F...0x9F).contains(v) || (0x202A...0x202E).contains(v) || (0x2066...0x2069).contains(v)
                || u == "\\"
            {
                out += u == "\\" ? "\\\\" : "\\u{\(String(v, radix: 16))}"
            } else {
                out.unicodeScalars.append(u)
            }
        }
        return out
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Every account: id, student id, role, state, name (read-only; works while the server runs).")
        @OptionGroup var options: DataDirOption

        func run() async throws {
            let engine = try await readOnlyEngine(options.dataDir)
            for u in engine.allUsers { print(UsersCommand.describe(u)) }
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create an account (prints a generated password).")
        @OptionGroup var options: DataDirOption
        @OptionGroup var password: PasswordOptions
        @Argument(help: "The new account's student id.") var studentID: String
        @Option(help: "The name shown (default: the student id).") var name: String?
        @Flag(help: "Make the account an admin.") var admin = false

        func run() async throws {
            let (secret, generated) = try password.password()
            let hash = try password.hash(secret)
            let user = try await withDataDirectory(options.dataDir) { engine in
                let user = try await engine.register(
                    studentID: studentID, name: name ?? studentID, passwordHash: hash, role: admin ? .admin : .student)
                try await AuditChain.record(
                    in: engine, .operatorCommand, "account.created", subject: "user:\(user.id)",
                    after: AuditChain.account(user))
                return user
            }
            print("created \(UsersCommand.describe(user))")
            if generated { print("password: \(secret)") }
        }
    }

    struct ResetPassword: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "reset-password",
            abstract: "Set a new password (prints a generated one); the account's tokens stop working.")
        @OptionGroup var options: DataDirOption
        @OptionGroup var password: PasswordOptions
        @Argument(help: "The account's student id (e.g. admin).") var studentID: String

        func run() async throws {
            let (secret, generated) = try password.password()
            let hash = try password.hash(secret)
            try await withDataDirectory(options.dataDir) { engine in
                let user = try UsersCommand.find(engine, studentID)
                let changed = try await engine.updateUser(id: user.id) {
                    $0.passwordHash = hash
                    $0.tokenGeneration &+= 1
                }
                try await AuditChain.record(
                    in: engine, .operatorCommand, "account.password_reset", subject: "user:\(user.id)",
                    before: AuditChain.account(user), after: AuditChain.account(changed))
            }
            print("password of \(studentID) reset; its sessions are revoked")
            if generated { print("password: \(secret)") }
        }
    }

    struct Disable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Disable an account: it cannot log in, and its tokens stop working.")
        @OptionGroup var options: DataDirOption
        @Argument(help: "Student ids.") var studentIDs: [String]

        func run() async throws {
            try await UsersCommand.change(options.dataDir, studentIDs, "disabled", audit: "account.disabled") {
                $0.disabled = true
                $0.tokenGeneration &+= 1
            }
        }
    }

    struct Enable: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Enable a disabled account.")
        @OptionGroup var options: DataDirOption
        @Argument(help: "Student ids.") var studentIDs: [String]

        func run() async throws {
            try await UsersCommand.change(options.dataDir, studentIDs, "enabled", audit: "account.enabled") {
                $0.disabled = false
            }
        }
    }

    struct RevokeSessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke-sessions", abstract: "Make every token of these accounts stop working.")
        @OptionGroup var options: DataDirOption
        @Argument(help: "Student ids.") var studentIDs: [String]

        func run() async throws {
            try await UsersCommand.change(
                options.dataDir, studentIDs, "sessions revoked", audit: "account.sessions_revoked"
            ) { $0.tokenGeneration &+= 1 }
        }
    }

    static func change(
        _ dataDir: String, _ studentIDs: [String], _ done: String, audit kind: String,
        _ body: @escaping @Sendable (inout User) -> Void
    ) async throws {
        guard !studentIDs.isEmpty else { throw ValidationError("name at least one student id") }
        try await withDataDirectory(dataDir) { engine in
            let users = try studentIDs.map { try UsersCommand.find(engine, $0) }  // all exist, or nothing changes
            for u in users {
                let changed = try await engine.updateUser(id: u.id, body)
                try await AuditChain.record(
                    in: engine, .operatorCommand, kind, subject: "user:\(u.id)", before: AuditChain.account(u),
                    after: AuditChain.account(changed))
            }
        }
        for id in studentIDs { print("\(id): \(done)") }
    }
}
