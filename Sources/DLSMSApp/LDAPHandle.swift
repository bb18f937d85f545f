import CLDAP
import Foundation

/// A libldap call that failed: its result code, what was being done, and the server's or the
/// library's diagnostic (for the log, not for clients).
struct LDAPCallError: Error, CustomStringConvertible {
    var code: Int32
    var operation: String
    var diagnostic: String

    var message: String { String(cString: ldap_err2string(code)) }
    var description: String {
        "\(operation): \(message) (\(code))" + (diagnostic.isEmpty ? "" : ": \(diagnostic)")
    }
}

/// One entry a search returned: its DN and the values of the attributes asked for, by the names
/// they were asked by.
struct LDAPEntry {
    var dn: String
    var values: [String: [String]]

    func first(_ attribute: String) -> String? { values[attribute]?.first { !$0.isEmpty } }
}

/// One libldap handle on a connection of its own (``LDAPSocket``), used by one thread at a time
/// and unbound when dropped. Every blocking call is bounded: libldap's operation timeout, and
/// the ``LDAPWatchdog`` a second later whatever libldap does.
final class LDAPHandle {
    private let ld: OpaquePointer
    private let timeout: Int
    private let watchdog: LDAPWatchdog

    /// A connection to the first of the settings' urls that answers, a handle on it with
    /// protocol v3, the timeouts, no referral chasing and the TLS options (the CA file,
    /// certificates required, TLS 1.2 or later, a context of its own); then the TLS handshake
    /// (`ldaps://`) or StartTLS, when the settings say so.
    init(_ settings: LDAPSettings) throws(LDAPCallError) {
        let (fd, url) = try LDAPSocket.connect(settings.urls, timeout: settings.timeoutSeconds)
        var handle: OpaquePointer?
        let code = ldap_init_fd(ber_socket_t(fd), LDAP_PROTO_TCP, url, &handle)
        guard code == LDAP_SUCCESS, let handle else {
            close(fd)
            throw LDAPCallError(code: code, operation: "ldap_init_fd", diagnostic: url)
        }
        ld = handle
        timeout = settings.timeoutSeconds
        watchdog = LDAPWatchdog(fd: fd, timeout: settings.timeoutSeconds)
        try setOptions(settings)
        try setTLSOptions(caFile: settings.caFile)
        if url.lowercased().hasPrefix("ldaps:") {
            try call("TLS handshake") { ldap_install_tls(ld) }
        } else if settings.startTLS {
            try call("StartTLS") { ldap_start_tls_s(ld, nil, nil) }
        }
    }

    deinit {
        watchdog.close()
        ldap_unbind_ext_s(ld, nil, nil)
    }

    private func setOptions(_ settings: LDAPSettings) throws(LDAPCallError) {
        var version = Int32(LDAP_VERSION3)
        try option(LDAP_OPT_PROTOCOL_VERSION, &version, "protocol version")
        var limit = timeval(tv_sec: settings.timeoutSeconds, tv_usec: 0)
        try option(LDAP_OPT_TIMEOUT, &limit, "timeout")
        var seconds = Int32(settings.timeoutSeconds)
        try option(LDAP_OPT_TIMELIMIT, &seconds, "time limit")
        try check(ldap_set_option(ld, LDAP_OPT_REFERRALS, nil), "referrals off")  // LDAP_OPT_OFF
    }

    private func setTLSOptions(caFile: String?) throws(LDAPCallError) {
        if let caFile {
            try check(ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, caFile), "TLS CA file")
        }
        var demand = Int32(LDAP_OPT_X_TLS_DEMAND)
        try option(LDAP_OPT_X_TLS_REQUIRE_CERT, &demand, "TLS require certificate")
        var minimum = Int32(CLDAP_TLS_PROTOCOL_TLS1_2)
        try option(LDAP_OPT_X_TLS_PROTOCOL_MIN, &minimum, "TLS minimum version")
        var isServer: Int32 = 0
        try option(LDAP_OPT_X_TLS_NEWCTX, &isServer, "TLS context")
    }

    private func option<T>(_ name: Int32, _ value: inout T, _ what: String) throws(LDAPCallError) {
        let code = withUnsafeMutablePointer(to: &value) { ldap_set_option(ld, name, $0) }
        try check(code, what)
    }

    private func check(_ code: Int32, _ operation: String) throws(LDAPCallError) {
        guard code != LDAP_SUCCESS else { return }
        throw failure(code, operation)
    }

    /// A blocking libldap call that must succeed, under the watchdog.
    private func call(_ operation: String, _ body: () -> Int32) throws(LDAPCallError) {
        let code = watchdog.guarded { body() }
        try check(code, operation)
    }

    /// The error of `code`; the watchdog's cutting the connection counts as a timeout.
    func failure(_ code: Int32, _ operation: String) -> LDAPCallError {
        if watchdog.fired {
            return LDAPCallError(code: LDAP_TIMEOUT, operation: operation, diagnostic: "no answer; connection cut")
        }
        return LDAPCallError(code: code, operation: operation, diagnostic: diagnostic())
    }

    /// The last diagnostic message of the handle (a TLS failure's reason, the server's text).
    func diagnostic() -> String {
        var text: UnsafeMutablePointer<CChar>?
        guard ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &text) == LDAP_OPT_SUCCESS, let text else {
            return ""
        }
        defer { ldap_memfree(text) }
        return String(cString: text)
    }

    /// A simple bind; `dn == nil` binds anonymously. Returns the result code (the caller decides
    /// what a refusal means). Callers never pass an empty password with a DN.
    func bind(dn: String?, password: String) -> Int32 {
        var bytes = Array(password.utf8CString)  // callers have refused NUL in passwords
        return bytes.withUnsafeMutableBufferPointer { buf in
            var cred = berval(bv_len: ber_len_t(buf.count - 1), bv_val: buf.baseAddress)
            return watchdog.guarded {
                ldap_sasl_bind_s(ld, dn, nil, &cred, nil, nil, nil)  // mechanism nil: LDAP_SASL_SIMPLE
            }
        }
    }

    /// A bind that must succeed (the service account's, or an anonymous one).
    func bindOrThrow(dn: String?, password: String, _ operation: String) throws(LDAPCallError) {
        let code = bind(dn: dn, password: password)
        guard code == LDAP_SUCCESS else { throw failure(code, operation) }
    }

    /// The entries of a subtree search, and whether the size limit cut it short.
    func search(base: String, filter: String, attributes: [String], sizeLimit: Int32) throws(LDAPCallError)
        -> (entries: [LDAPEntry], truncated: Bool)
    {
        var names: [UnsafeMutablePointer<CChar>?] = attributes.map { strdup($0) } + [nil]
        defer { for name in names { free(name) } }
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        var result: OpaquePointer?
        let code = watchdog.guarded {
            ldap_search_ext_s(ld, base, CLDAP_SCOPE_SUBTREE, filter, &names, 0, nil, nil, &limit, sizeLimit, &result)
        }
        defer { if let result { ldap_msgfree(result) } }
        guard code == LDAP_SUCCESS || code == LDAP_SIZELIMIT_EXCEEDED else { throw failure(code, "search") }
        return (entries(of: result, attributes: attributes), code == LDAP_SIZELIMIT_EXCEEDED)
    }

    private func entries(of result: OpaquePointer?, attributes: [String]) -> [LDAPEntry] {
        var found: [LDAPEntry] = []
        var entry = ldap_first_entry(ld, result)
        while let current = entry {
            if let dn = ldap_get_dn(ld, current) {
                var values: [String: [String]] = [:]
                for name in attributes { values[name] = self.values(current, name) }
                found.append(LDAPEntry(dn: String(cString: dn), values: values))
                ldap_memfree(dn)
            }
            entry = ldap_next_entry(ld, current)
        }
        return found
    }

    private func values(_ entry: OpaquePointer, _ attribute: String) -> [String] {
        guard let list = ldap_get_values_len(ld, entry, attribute) else { return [] }
        defer { ldap_value_free_len(list) }
        var out: [String] = []
        var i = 0
        while let value = list[i] {
            let bytes = UnsafeRawBufferPointer(start: value.pointee.bv_val, count: Int(value.pointee.bv_len))
            out.append(String(decoding: bytes, as: UTF8.self))
            i += 1
        }
        return out
    }
}
