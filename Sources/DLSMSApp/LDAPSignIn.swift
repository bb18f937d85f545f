import CLDAP
import DLSMSCore
import Logging

/// One sign-in against the directory, blocking (run on ``LDAPDirectory``'s threads): a fresh
/// handle (StartTLS if set), the service account's bind (or an anonymous one), the user search
/// (exactly one entry), the user's bind with the password, the groups, and the unbind when the
/// handle goes.
struct LDAPSignIn {
    var settings: LDAPSettings
    var logger: Logger

    /// Result codes of the user's bind that say "not this password / not this account" (wrong
    /// password, locked or disabled account): a refusal, not an outage.
    static let refusals: Set<Int32> = [
        LDAP_INVALID_CREDENTIALS, LDAP_INAPPROPRIATE_AUTH, LDAP_INSUFFICIENT_ACCESS, LDAP_UNWILLING_TO_PERFORM,
    ]

    /// The identity, or `nil` when the directory refuses the name or password. `password` is not
    /// empty (an unauthenticated bind would succeed on many servers).
    func run(username: String, password: String) throws(LDAPCallError) -> ExternalIdentity? {
        precondition(!password.isEmpty, "an empty password is an unauthenticated bind")
        let handle = try LDAPHandle(settings)
        try bindService(handle)
        guard let entry = try findUser(handle, username: username) else { return nil }
        let code = handle.bind(dn: entry.dn, password: password)
        if Self.refusals.contains(code) {
            logger.info("ldap sign-in refused", metadata: ["dn": "\(entry.dn)", "code": "\(code)"])
            return nil
        }
        guard code == LDAP_SUCCESS else {
            throw handle.failure(code, "user bind")
        }
        guard let studentID = studentID(of: entry) else { return nil }
        let groups = try self.groups(handle, entry: entry, username: username)
        return ExternalIdentity(
            source: .ldap, studentID: studentID, name: entry.first(settings.nameAttribute),
            email: entry.first(settings.emailAttribute), groups: groups)
    }

    private func bindService(_ handle: LDAPHandle) throws(LDAPCallError) {
        try handle.bindOrThrow(
            dn: settings.bindDN, password: settings.bindPassword ?? "",
            settings.bindDN == nil ? "anonymous bind" : "service account bind")
    }

    /// The one entry the user filter finds; `nil` for none or several.
    private func findUser(_ handle: LDAPHandle, username: String) throws(LDAPCallError) -> LDAPEntry? {
        let filter = LDAPFilter.fill(settings.userFilter, ["username": username])
        var attributes = [settings.studentIDAttribute, settings.nameAttribute, settings.emailAttribute]
        if let groupAttribute = settings.groupAttribute { attributes.append(groupAttribute) }
        let found = try handle.search(base: settings.baseDN, filter: filter, attributes: attributes, sizeLimit: 2)
        guard found.entries.count == 1, !found.truncated else {
            if found.entries.count > 1 || found.truncated {
                logger.warning("ldap user filter matches several entries", metadata: ["filter": "\(filter)"])
            }
            return nil
        }
        return found.entries[0]
    }

    /// The entry's student id attribute, if it is a valid student id.
    private func studentID(of entry: LDAPEntry) -> String? {
        guard let id = entry.first(settings.studentIDAttribute), (try? BookingRules.validateStudentID(id)) != nil
        else {
            logger.warning(
                "ldap entry has no valid student id",
                metadata: ["dn": "\(entry.dn)", "attribute": "\(settings.studentIDAttribute)"])
            return nil
        }
        return id
    }

    /// The names of the groups from the group attribute (each DN's first RDN value) and from the
    /// group search (as the service account again), in order, each once.
    private func groups(_ handle: LDAPHandle, entry: LDAPEntry, username: String) throws(LDAPCallError) -> [String] {
        var names: [String] = []
        if let attribute = settings.groupAttribute {
            names += (entry.values[attribute] ?? []).compactMap(LDAPFilter.firstRDNValue)
        }
        if let base = settings.groupSearchBase, let template = settings.groupSearchFilter {
            try bindService(handle)
            let filter = LDAPFilter.fill(template, ["dn": entry.dn, "username": username])
            let name = settings.groupNameAttribute
            let found = try handle.search(base: base, filter: filter, attributes: [name], sizeLimit: 1_000)
            names += found.entries.compactMap { $0.first(name) }
        }
        var seen = Set<String>()
        return names.filter { !$0.isEmpty && seen.insert($0).inserted }
    }
}
