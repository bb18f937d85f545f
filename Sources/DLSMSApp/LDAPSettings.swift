import CLDAP
import Foundation

/// How ``LDAPDirectory`` reaches and reads an LDAP directory (OpenLDAP, Active Directory).
public struct LDAPSettings: Sendable, Hashable {
    /// `ldap://host:port` or `ldaps://host:port` (several, space-separated, are tried in turn).
    public var url: String
    /// StartTLS on an `ldap://` url before anything else is sent.
    public var startTLS: Bool
    /// A PEM bundle of the CAs that may sign the server's certificate (`nil`: the system's).
    public var caFile: String?
    /// Plain `ldap://` without StartTLS (passwords in clear) is refused unless this is `true`.
    public var allowPlain: Bool
    /// The service account that searches for users (`nil`: an anonymous search).
    public var bindDN: String?
    public var bindPassword: String?
    public var baseDN: String
    /// The user search, `{username}` standing for the escaped name the person typed.
    public var userFilter: String
    /// The attribute whose value becomes the account's student id (checked as one).
    public var studentIDAttribute: String
    public var nameAttribute: String
    public var emailAttribute: String
    /// An attribute of the user whose values are group DNs (`memberOf`); the group's name is the
    /// value of the DN's first RDN. `nil`: none.
    public var groupAttribute: String?
    /// Or a search for the user's groups (as the service account): under `groupSearchBase` with
    /// `groupSearchFilter`, where `{dn}` is the user's escaped DN and `{username}` the escaped
    /// name typed; each group's name is its `groupNameAttribute`.
    public var groupSearchBase: String?
    public var groupSearchFilter: String?
    public var groupNameAttribute: String
    /// The connect, TLS handshake and each operation's timeout, and the search time limit.
    public var timeoutSeconds: Int
    /// Blocking directory calls at once (each on a thread of its own).
    public var maxConcurrent: Int
    /// Sign-ins that may wait for a thread; beyond, they fail at once ("busy").
    public var queueLimit: Int

    public init(
        url: String, startTLS: Bool = false, caFile: String? = nil, allowPlain: Bool = false, bindDN: String? = nil,
        bindPassword: String? = nil, baseDN: String, userFilter: String, studentIDAttribute: String = "uid",
        nameAttribute: String = "cn", emailAttribute: String = "mail", groupAttribute: String? = "memberOf",
        groupSearchBase: String? = nil, groupSearchFilter: String? = nil, groupNameAttribute: String = "cn",
        timeoutSeconds: Int = 5, maxConcurrent: Int = 4, queueLimit: Int = 64
    ) {
        self.url = url
        self.startTLS = startTLS
        self.caFile = caFile
        self.allowPlain = allowPlain
        self.bindDN = bindDN
        self.bindPassword = bindPassword
        self.baseDN = baseDN
        self.userFilter = userFilter
        self.studentIDAttribute = studentIDAttribute
        self.nameAttribute = nameAttribute
        self.emailAttribute = emailAttribute
        self.groupAttribute = groupAttribute
        self.groupSearchBase = groupSearchBase
        self.groupSearchFilter = groupSearchFilter
        self.groupNameAttribute = groupNameAttribute
        self.timeoutSeconds = timeoutSeconds
        self.maxConcurrent = maxConcurrent
        self.queueLimit = queueLimit
    }

    /// The urls, split.
    var urls: [String] { url.split(whereSeparator: \.isWhitespace).map(String.init) }

    /// Throws ``ConfigurationError`` naming the first setting that cannot work.
    public func validate() throws(ConfigurationError) {
        try validateTransport()
        try validateSearch()
        try validateLimits()
    }

    private func validateTransport() throws(ConfigurationError) {
        let urls = self.urls
        guard !urls.isEmpty else { throw ConfigurationError("ldap url: empty") }
        for u in urls {
            let scheme = u.prefix { $0 != ":" }.lowercased()
            guard scheme == "ldap" || scheme == "ldaps" else {
                throw ConfigurationError("ldap url \(u): the scheme must be ldap:// or ldaps://")
            }
            guard ldap_is_ldap_url(u) != 0 || ldap_is_ldaps_url(u) != 0, LDAPSettings.parses(u) else {
                throw ConfigurationError("ldap url \(u): not a valid LDAP url")
            }
            if scheme == "ldaps" && startTLS {
                throw ConfigurationError("ldap url \(u): StartTLS is for ldap:// urls (ldaps:// is TLS already)")
            }
            if scheme == "ldap" && !startTLS && !allowPlain {
                throw ConfigurationError(
                    "ldap url \(u): plain ldap:// sends passwords in clear; use ldaps://, StartTLS, or allow plain")
            }
        }
        if let caFile, !FileManager.default.isReadableFile(atPath: caFile) {
            throw ConfigurationError("ldap CA file \(caFile) cannot be read")
        }
        if (bindDN == nil) != (bindPassword == nil) || bindPassword == "" || bindDN == "" {
            throw ConfigurationError("ldap service account: give both a bind DN and a non-empty password, or neither")
        }
        if let bindDN, !LDAPSettings.isDN(bindDN) { throw ConfigurationError("ldap bind DN \(bindDN): not a DN") }
    }

    private func validateSearch() throws(ConfigurationError) {
        guard !baseDN.isEmpty, LDAPSettings.isDN(baseDN) else {
            throw ConfigurationError("ldap base DN \"\(baseDN)\": empty or not a DN")
        }
        guard userFilter.contains("{username}"), userFilter.hasPrefix("("), userFilter.hasSuffix(")") else {
            throw ConfigurationError("ldap user filter \(userFilter): must be (…) and contain {username}")
        }
        for (name, value) in [
            ("student id", studentIDAttribute), ("name", nameAttribute), ("email", emailAttribute),
            ("group name", groupNameAttribute), ("group", groupAttribute ?? "memberOf"),
        ] where !LDAPSettings.isAttributeName(value) {
            throw ConfigurationError("ldap \(name) attribute \"\(value)\": not an attribute name")
        }
        switch (groupSearchBase, groupSearchFilter) {
        case (nil, nil): break
        case (let base?, let filter?):
            guard LDAPSettings.isDN(base), !base.isEmpty else {
                throw ConfigurationError("ldap group search base \"\(base)\": not a DN")
            }
            guard filter.hasPrefix("("), filter.hasSuffix(")"),
                filter.contains("{dn}") || filter.contains("{username}")
            else { throw ConfigurationError("ldap group filter \(filter): must be (…) with {dn} or {username}") }
        default: throw ConfigurationError("ldap group search: needs both a base and a filter")
        }
    }

    private func validateLimits() throws(ConfigurationError) {
        guard (1...300).contains(timeoutSeconds) else { throw ConfigurationError("ldap timeout: 1 to 300 seconds") }
        guard (1...256).contains(maxConcurrent) else { throw ConfigurationError("ldap concurrency: 1 to 256") }
        guard (0...100_000).contains(queueLimit) else { throw ConfigurationError("ldap queue: 0 to 100000") }
    }

    private static func parses(_ url: String) -> Bool {
        var desc: UnsafeMutablePointer<LDAPURLDesc>?
        guard ldap_url_parse(url, &desc) == LDAP_URL_SUCCESS, let desc else { return false }
        defer { ldap_free_urldesc(desc) }
        return desc.pointee.lud_host != nil && desc.pointee.lud_host.pointee != 0
    }

    /// Whether libldap reads `text` as an LDAPv3 DN.
    static func isDN(_ text: String) -> Bool {
        var dn: LDAPDN?
        guard ldap_str2dn(text, &dn, UInt32(LDAP_DN_FORMAT_LDAPV3)) == LDAP_SUCCESS else { return false }
        ldap_dnfree(dn)
        return true
    }

    static func isAttributeName(_ text: String) -> Bool {
        guard let first = text.utf8.first, first.isASCIILetterOrDigit else { return false }
        return text.utf8.allSatisfy { $0.isASCIILetterOrDigit || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }
    }
}

extension UInt8 {
    fileprivate var isASCIILetterOrDigit: Bool {
        (self >= 0x30 && self <= 0x39) || (self >= 0x41 && self <= 0x5A) || (self >= 0x61 && self <= 0x7A)
    }
}
