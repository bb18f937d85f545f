import Testing

@testable import DLSMSApp

@Suite struct LDAPFilterTests {
    @Test func escapesTheRFC4515Specials() {
        #expect(LDAPFilter.escape("alice") == "alice")
        #expect(LDAPFilter.escape("*") == "\\2a")
        #expect(LDAPFilter.escape("(") == "\\28")
        #expect(LDAPFilter.escape(")") == "\\29")
        #expect(LDAPFilter.escape("\\") == "\\5c")
        #expect(LDAPFilter.escape("\0") == "\\00")
        #expect(LDAPFilter.escape("*)(uid=*") == "\\2a\\29\\28uid=\\2a")
        #expect(LDAPFilter.escape("alice\\00") == "alice\\5c00")
        // UTF-8 passes as it is; so do the characters that are special only in DNs.
        #expect(LDAPFilter.escape("Zoë 学生, O'Brien; a=b+c") == "Zoë 学生, O'Brien; a=b+c")
    }

    @Test func fillsTemplatesInOnePass() {
        let filter = "(&(objectClass=inetOrgPerson)(uid={username}))"
        #expect(LDAPFilter.fill(filter, ["username": "a*b"]) == "(&(objectClass=inetOrgPerson)(uid=a\\2ab))")
        // A value that names another placeholder is not filled again.
        #expect(
            LDAPFilter.fill("(|(member={dn})(memberUid={username}))", ["dn": "uid=x,dc=t", "username": "{dn}"])
                == "(|(member=uid=x,dc=t)(memberUid={dn}))")
        #expect(LDAPFilter.fill("(cn={other})", ["username": "x"]) == "(cn={other})")
        #expect(LDAPFilter.fill("(cn={username}", ["username": "x"]) == "(cn=x")
        #expect(LDAPFilter.fill("(cn={", ["username": "x"]) == "(cn={")
    }

    @Test func groupNamesAreTheFirstRDNValue() {
        #expect(LDAPFilter.firstRDNValue("cn=library-staff,ou=groups,dc=campus,dc=test") == "library-staff")
        #expect(LDAPFilter.firstRDNValue("CN=Domain Users,CN=Users,DC=ad,DC=campus") == "Domain Users")
        #expect(LDAPFilter.firstRDNValue("cn=a\\2Cb,ou=groups,dc=t") == "a,b")
        #expect(LDAPFilter.firstRDNValue("cn=Zo\\C3\\AB,dc=t") == "Zoë")
        #expect(LDAPFilter.firstRDNValue("not a dn") == nil)
    }
}

@Suite struct LDAPSettingsTests {
    static let good = LDAPSettings(
        url: "ldaps://ldap.campus.test:636", baseDN: "dc=campus,dc=test",
        userFilter: "(&(objectClass=person)(uid={username}))")

    /// The message of the refusal of `change`d settings, or nil when they validate.
    static func refusal(_ change: (inout LDAPSettings) -> Void) -> String? {
        var settings = good
        change(&settings)
        do {
            try settings.validate()
            return nil
        } catch {
            return error.description
        }
    }

    @Test func goodSettingsValidate() throws {
        try Self.good.validate()
        #expect(
            Self.refusal {
                $0.url = "ldap://a:389 ldap://b:389"
                $0.startTLS = true
            } == nil)
        #expect(
            Self.refusal {
                $0.url = "ldap://127.0.0.1:3890"
                $0.allowPlain = true
            } == nil)
        #expect(
            Self.refusal {
                $0.bindDN = "cn=reader,dc=campus,dc=test"
                $0.bindPassword = "secret"
            } == nil)
        #expect(
            Self.refusal {
                $0.groupAttribute = nil
                $0.groupSearchBase = "ou=groups,dc=campus,dc=test"
                $0.groupSearchFilter = "(memberUid={username})"
            } == nil)
    }

    @Test(arguments: [
        ("http://ldap.campus.test", "scheme"),
        ("ldapi:///var/run/slapd.sock", "scheme"),
        ("ldap://ldap.campus.test", "plain ldap://"),
        ("ldaps://", "not a valid LDAP url"),
        ("", "empty"),
    ])
    func badURLs(url: String, says: String) throws {
        let message = try #require(Self.refusal { $0.url = url })
        #expect(message.contains(says), "\(message)")
    }

    @Test func badSettings() throws {
        let cases: [(String, (inout LDAPSettings) -> Void)] = [
            ("StartTLS is for ldap://", { $0.startTLS = true }),
            ("{username}", { $0.userFilter = "(uid=alice)" }),
            ("{username}", { $0.userFilter = "uid={username}" }),
            ("base DN", { $0.baseDN = "" }),
            ("base DN", { $0.baseDN = "not a dn" }),
            ("cannot be read", { $0.caFile = "/nonexistent/ca.pem" }),
            ("service account", { $0.bindDN = "cn=reader,dc=campus,dc=test" }),
            (
                "service account",
                {
                    $0.bindDN = "cn=reader,dc=campus,dc=test"
                    $0.bindPassword = ""
                }
            ),
            ("service account", { $0.bindPassword = "secret" }),
            ("student id attribute", { $0.studentIDAttribute = "uid)(x" }),
            ("group search", { $0.groupSearchBase = "ou=groups,dc=campus,dc=test" }),
            (
                "{dn} or {username}",
                {
                    $0.groupSearchBase = "ou=g,dc=t"
                    $0.groupSearchFilter = "(cn=all)"
                }
            ),
            ("timeout", { $0.timeoutSeconds = 0 }),
            ("concurrency", { $0.maxConcurrent = 0 }),
        ]
        for (says, change) in cases {
            let message = try #require(Self.refusal(change), "\(says)")
            #expect(message.contains(says), "\(message)")
        }
    }
}
