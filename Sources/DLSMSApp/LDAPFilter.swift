import CLDAP

/// The parts of a search filter and a DN that come from outside.
public enum LDAPFilter {
    /// `value` as an RFC 4515 assertion value: `*` `(` `)` `\` and NUL become `\2a` `\28` `\29`
    /// `\5c` `\00`; everything else (UTF-8 included) passes as it is.
    public static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "*": out += "\\2a"
            case "(": out += "\\28"
            case ")": out += "\\29"
            case "\\": out += "\\5c"
            case "\0": out += "\\00"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    /// `template` with each `{name}` of `values` replaced by the escaped value, in one pass (a
    /// value that contains `{dn}` stays as it is).
    public static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = template[...]
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            let after = rest[open...].dropFirst()
            if let close = after.firstIndex(of: "}"), let value = values[String(after[..<close])] {
                out += escape(value)
                rest = after[close...].dropFirst()
            } else {
                out += "{"
                rest = after
            }
        }
        return out + rest
    }

    /// The value of `dn`'s first RDN (`cn=library-staff,ou=groups,…` → `library-staff`), read by
    /// libldap (escapes and hex values decoded); `nil` when `dn` is not a DN.
    public static func firstRDNValue(_ dn: String) -> String? {
        var parsed: LDAPDN?
        guard ldap_str2dn(dn, &parsed, UInt32(LDAP_DN_FORMAT_LDAPV3)) == LDAP_SUCCESS, let parsed else {
            return nil
        }
        defer { ldap_dnfree(parsed) }
        guard let rdn = parsed[0], let ava = rdn[0] else { return nil }
        let value = ava.pointee.la_value
        guard let bytes = value.bv_val else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: Int(value.bv_len)), as: UTF8.self)
    }
}
