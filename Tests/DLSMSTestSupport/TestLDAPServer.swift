import Foundation
import Synchronization

/// A real OpenLDAP server for the LDAP sign-in tests: `slapd` on free loopback ports (`ldap://`
/// with StartTLS, and `ldaps://`), with a test CA and a server certificate for 127.0.0.1 made by
/// the `openssl` CLI, an mdb database in a temporary directory loaded with `slapadd`, the
/// `memberof` overlay (groups are added over LDAP once it runs, so that the overlay writes each
/// member's `memberOf`) and the `ppolicy` overlay (one account locked by `pwdAccountLockedTime`).
/// The server accepts unauthenticated binds (`allow bind_anon_dn`): a DN with an empty password
/// binds, as anonymous, as on many real servers.
///
/// Start one with ``start()`` and stop it with ``stop()``, or use ``withTestLDAPServer(_:)``,
/// which stops it whatever the body does.
public final class TestLDAPServer: Sendable {
    public static let baseDN = "dc=campus,dc=test"
    public static let adminDN = "cn=admin,dc=campus,dc=test"
    public static let adminPassword = "admin-secret-1"
    /// The service account that may search (everyone may read everything but passwords).
    public static let serviceDN = "cn=dlsms-reader,ou=services,dc=campus,dc=test"
    public static let servicePassword = "reader-secret-1"
    /// The user filter the tests use.
    public static let userFilter = "(&(objectClass=inetOrgPerson)(uid={username}))"
    /// The attribute that holds the student id.
    public static let studentIDAttribute = "employeeNumber"

    /// A person of the test directory.
    public struct Person: Sendable {
        public var uid: String
        public var password: String
        public var name: String
        public var studentID: String?
        public var groups: [String]
        /// Where the entry is (`ou=people` unless said otherwise).
        public var unit = "people"
        public var mail: String { uid + "@campus.test" }
        public var dn: String { "uid=\(uid),ou=\(unit),\(TestLDAPServer.baseDN)" }
    }

    /// A student in `students`, with a name that is not ASCII.
    public static let alice = Person(
        uid: "alice", password: "alice-pass-1", name: "Alice Ångström", studentID: "S2024001", groups: ["students"])
    /// Library staff, in `library-staff` and `students`.
    public static let bob = Person(
        uid: "bob", password: "bob-pass-1", name: "Bob Staff", studentID: "staff.bob",
        groups: ["library-staff", "students"])
    /// Locked by the password policy (`pwdAccountLockedTime: 000001010000Z`): the right password
    /// does not bind.
    public static let carol = Person(
        uid: "carol", password: "carol-pass-1", name: "Carol Locked", studentID: "S2024003", groups: ["students"])
    /// Binds, but the student id attribute is not a valid student id (`dave/42 x`).
    public static let dave = Person(
        uid: "dave", password: "dave-pass-1", name: "Dave Oddid", studentID: "dave/42 x", groups: [])
    /// Two entries with uid `twin` (in ou=people and ou=alumni): the user filter matches both.
    public static let twins = [
        Person(uid: "twin", password: "twin-pass-1", name: "Twin One", studentID: "S2024011", groups: []),
        Person(
            uid: "twin", password: "twin-pass-1", name: "Twin Two", studentID: "S2024012", groups: [], unit: "alumni"),
    ]
    public static var people: [Person] { [alice, bob, carol, dave] + twins }

    public let directory: String
    /// The `ldap://` port (StartTLS available) and the `ldaps://` port.
    public let port: Int
    public let tlsPort: Int
    private let process: Mutex<Process?>

    public var url: String { "ldap://127.0.0.1:\(port)" }
    public var ldapsURL: String { "ldaps://127.0.0.1:\(tlsPort)" }
    /// The CA that signed the server's certificate.
    public var caFile: String { directory + "/ca.pem" }
    /// Another CA, with the same name, that did not.
    public var otherCAFile: String { directory + "/other-ca.pem" }

    init(directory: String, port: Int, tlsPort: Int, process: Process) {
        self.directory = directory
        self.port = port
        self.tlsPort = tlsPort
        self.process = Mutex(process)
    }

    /// Whether the tests can run here: always under CI (which installs slapd, so that a missing
    /// one fails), elsewhere when slapd, the ldap tools and openssl are installed.
    /// A skip is printed with what is missing.
    public static let isAvailable: Bool = {
        if ProcessInfo.processInfo.environment["CI"] == "true" { return true }
        let missing = [slapd, slapadd, slappasswd, ldapadd, ldapwhoami, openssl].filter {
            !FileManager.default.isExecutableFile(atPath: $0)
        }
        if !missing.isEmpty {
            FileHandle.standardError.write(
                Data(
                    "SKIPPED: the LDAP tests: \(missing.joined(separator: ", ")) not installed here (docs/testing.md: what the suite needs)\n"
                        .utf8))
        }
        return missing.isEmpty
    }()

    static let slapd = "/usr/sbin/slapd"
    static let slapadd = "/usr/sbin/slapadd"
    static let slappasswd = "/usr/sbin/slappasswd"
    static let ldapadd = "/usr/bin/ldapadd"
    public static let ldapwhoami = "/usr/bin/ldapwhoami"
    static let openssl = "/usr/bin/openssl"

    /// A new server, listening, with its entries and groups; the caller stops it.
    public static func start() async throws -> TestLDAPServer {
        let dir = temporaryDirectory("slapd")
        do {
            try await offThePool {
                try makeCertificates(in: dir)
                try writeDatabase(in: dir)
            }
            let server = try await launch(in: dir)
            do {
                try await offThePool { try server.addGroups() }
            } catch {
                server.stop()
                throw error
            }
            return server
        } catch {
            cleanup(dir)
            throw error
        }
    }

    /// Stops slapd (SIGKILL: its database is thrown away, and SIGTERM's orderly shutdown takes
    /// seconds) and removes the directory; again does nothing.
    public func stop() {
        guard
            let p = process.withLock({ p in
                defer { p = nil }
                return p
            })
        else { return }
        if p.isRunning { kill(p.processIdentifier, SIGKILL) }
        p.waitUntilExit()
        cleanup(directory)
    }

    /// What slapd wrote to its standard error (for a failing test's message).
    public var log: String { (try? String(contentsOfFile: directory + "/slapd.log", encoding: .utf8)) ?? "" }
}

/// Runs `body` with a fresh test server, stopped afterwards whether `body` returns or throws.
public func withTestLDAPServer<T>(_ body: (TestLDAPServer) async throws -> T) async throws -> T {
    let server = try await TestLDAPServer.start()
    defer { server.stop() }
    return try await body(server)
}

/// A failure of the fixture, with what the tool said.
public struct FixtureError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
