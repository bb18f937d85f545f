import DLSMSCore
import Foundation

/// Which identity sources sign people in, and how their accounts are made.
public struct IdentitySettings: Sendable {
    /// Who may sign in with a password kept by DL-SMS.
    public enum LocalSignIn: String, Sendable, CaseIterable {
        /// Everyone with a local account (as before campus sign-in).
        case all
        /// Staff only; students sign in through a campus source.
        case staff
        /// Nobody: every sign-in goes through a campus source.
        case off
    }

    public var local: LocalSignIn = .all
    /// Members of this group (as a campus source names it) are staff; everyone else a student.
    /// `nil`: a campus source never makes staff (staff are made in DL-SMS).
    public var staffGroup: String?
    /// OpenID Connect (nil: off).
    public var oidc: OIDCSettings?
    /// A trusted SSO proxy (SAML through Shibboleth SP or mod_auth_mellon, CAS): nil: off.
    public var proxy: SSOProxySettings?
    /// LDAP / Active Directory passwords (nil: off).
    public var ldap: LDAPSettings?

    public init() {}

    /// What the settings say before they are put together: a source's own settings count only
    /// once the one that turns it on is given (`--oidc-issuer`, `--ldap-url`, `--sso-proxy true`).
    package struct Drafts: Sendable {
        package var oidc = OIDCSettings(issuer: "", clientID: "", clientSecret: "", redirectURI: "")
        package var ldap = LDAPSettings(url: "", baseDN: "", userFilter: "(uid={username})")
        package var proxy = SSOProxySettings()
        package var proxyOn = false

        package init() {}
    }

    package var drafts = Drafts()

    /// Whether a local password may sign this account in.
    public func allowsLocalPassword(for user: User) -> Bool {
        switch local {
        case .all: user.source == .local
        case .staff: user.source == .local && user.role == .admin
        case .off: false
        }
    }
}

/// The headers a trusted SSO proxy sets (only requests whose peer is one of `--trusted-proxies`
/// are believed; anyone else's copies are ignored and logged).
public struct SSOProxySettings: Sendable, Hashable {
    public var userHeader = "X-Remote-User"
    public var nameHeader = "X-Remote-Name"
    public var emailHeader = "X-Remote-Email"
    public var groupsHeader = "X-Remote-Groups"
    /// The name on the web app's button ("Sign in with …").
    public var displayName = "campus single sign-on"

    public init() {}

    /// The groups of a header value: separated by `;` or `,` (Shibboleth joins multiple values
    /// with `;`, mod_auth_mellon with its own separator, set to `;` in deploy/).
    public static func groups(_ header: String) -> [String] {
        header.split(whereSeparator: { $0 == ";" || $0 == "," }).map { String($0) }
    }
}

/// An identity as an account keeps it: the name checked (else the student id), the email only
/// when plausible, the groups trimmed, unique, sorted and bounded.
extension ExternalIdentity {
    public var accountName: String {
        guard let n = name?.trimmingCharacters(in: .whitespaces), !n.isEmpty,
            (try? BookingRules.validateName(n)) != nil
        else { return studentID }
        return n
    }

    public var accountEmail: String {
        guard let e = email?.trimmingCharacters(in: .whitespaces), e.utf8.count <= User.maxEmailBytes,
            e.contains("@"), !e.unicodeScalars.contains(where: { $0.value < 0x21 || $0.value == 0x7F })
        else { return "" }
        return e
    }

    public var accountGroups: [String] {
        // Only ASCII blanks are trimmed: a group named "library-staff" followed by a no-break or
        // zero-width space is another group, never the staff group.
        let cleaned = groups.map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " \t")) }.filter {
            !$0.isEmpty && $0.utf8.count <= User.maxGroupBytes
                && !$0.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F })
        }
        return Array(Set(cleaned).sorted().prefix(User.maxGroups))
    }
}

extension LDAPDirectory: PasswordDirectory {}
