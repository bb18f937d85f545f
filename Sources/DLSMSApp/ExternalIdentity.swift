import DLSMSCore

/// Who an identity source (OpenID Connect, LDAP, a trusted SSO proxy) says has signed in: the
/// account is found, or created just in time, by `studentID`; name, email and groups refresh it
/// at each sign-in.
public struct ExternalIdentity: Sendable, Hashable {
    public var source: AccountSource
    /// Becomes the account's `student_id` (the contract's name for who a person is).
    public var studentID: String
    public var name: String?
    public var email: String?
    /// Group names as the source gives them (LDAP: the group's `cn`; OIDC: the mapped claim).
    public var groups: [String]

    public init(
        source: AccountSource, studentID: String, name: String? = nil, email: String? = nil, groups: [String] = []
    ) {
        self.source = source
        self.studentID = studentID
        self.name = name
        self.email = email
        self.groups = groups
    }
}

extension AppError {
    /// An identity source that is down, slow, or answered something that is not what it should.
    public static func identityProviderUnavailable(_ detail: String) -> AppError {
        AppError(.unavailable, "identity_provider_unavailable", "the campus sign-in is unavailable: \(detail)")
    }
}

/// A directory that checks a campus password (LDAP / Active Directory): the identity, `nil` for
/// a wrong password or an unknown user, or `identity_provider_unavailable`.
public protocol PasswordDirectory: Sendable {
    func authenticate(username: String, password: String) async throws -> ExternalIdentity?
}
