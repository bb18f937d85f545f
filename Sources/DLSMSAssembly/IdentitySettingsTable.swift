import DLSMSApp
import Foundation

/// The settings of campus sign-in (OpenID Connect, LDAP, a trusted SSO proxy) and of local
/// passwords: flags and environment, checked like every other setting.
extension ServerSettings {
    static let identityTable: [Setting] = localAndProxy + oidcTable + ldapTable

    private static let localAndProxy: [Setting] = [
        setting(
            "local-sign-in", "LOCAL_SIGN_IN", "all",
            "Who signs in with a DL-SMS password: all | staff (students use a campus source) | off."
        ) { c, v in c.identity.local = try choice(v, IdentitySettings.LocalSignIn.self) },
        setting(
            "staff-group", "STAFF_GROUP", "none",
            "Members of this campus group (OpenID Connect, LDAP, SSO proxy) are staff; others are students."
        ) { c, v in c.identity.staffGroup = try groupName(v) },
        setting(
            "sso-proxy", "SSO_PROXY", "false",
            "Sign-in through a trusted SSO proxy (SAML, CAS) at GET /auth/sso: its user headers count only from --trusted-proxies."
        ) { c, v in c.identity.drafts.proxyOn = try boolean(v) },
        proxySetting("sso-user-header", "SSO_USER_HEADER", "X-Remote-User", "The header with the user's student id.") {
            $0.userHeader = try headerName($1)
        },
        proxySetting("sso-name-header", "SSO_NAME_HEADER", "X-Remote-Name", "The header with the user's name.") {
            $0.nameHeader = try headerName($1)
        },
        proxySetting("sso-email-header", "SSO_EMAIL_HEADER", "X-Remote-Email", "The header with the user's email.") {
            $0.emailHeader = try headerName($1)
        },
        proxySetting(
            "sso-groups-header", "SSO_GROUPS_HEADER", "X-Remote-Groups", "The header with the groups (';' or ',')."
        ) { $0.groupsHeader = try headerName($1) },
        proxySetting("sso-name", "SSO_NAME", "campus single sign-on", "The web app's \"Sign in with …\" name.") {
            $0.displayName = try displayName($1)
        },
    ]

    private static let oidcTable: [Setting] = [
        oidcSetting("oidc-issuer", "OIDC_ISSUER", "none", "OpenID Connect: the provider's issuer URL (turns it on).") {
            $0.issuer = $1
        },
        oidcSetting("oidc-client-id", "OIDC_CLIENT_ID", "none", "OpenID Connect: this server's client id.") {
            $0.clientID = $1
        },
        oidcSetting(
            "oidc-client-secret", "OIDC_CLIENT_SECRET", "none",
            "OpenID Connect: the client secret (prefer the environment to a flag)."
        ) { $0.clientSecret = $1 },
        oidcSetting(
            "oidc-redirect-uri", "OIDC_REDIRECT_URI", "none",
            "OpenID Connect: the redirect URI registered at the provider, ending in /auth/oidc/callback."
        ) { $0.redirectURI = $1 },
        oidcSetting("oidc-name", "OIDC_NAME", "campus account", "The web app's \"Sign in with …\" name.") {
            $0.displayName = try displayName($1)
        },
        oidcSetting("oidc-scopes", "OIDC_SCOPES", "openid profile email", "The scopes asked for (with openid).") {
            $0.scopes = $1
        },
        oidcSetting(
            "oidc-claim-student-id", "OIDC_CLAIM_STUDENT_ID", "preferred_username",
            "The claim that becomes the student id."
        ) { $0.studentIDClaim = try claimName($1) },
        oidcSetting("oidc-claim-name", "OIDC_CLAIM_NAME", "name", "The claim of the name.") {
            $0.nameClaim = try claimName($1)
        },
        oidcSetting("oidc-claim-email", "OIDC_CLAIM_EMAIL", "email", "The claim of the email.") {
            $0.emailClaim = try claimName($1)
        },
        oidcSetting("oidc-claim-groups", "OIDC_CLAIM_GROUPS", "groups", "The claim of the groups (a list).") {
            $0.groupsClaim = try claimName($1)
        },
        oidcSetting(
            "oidc-client-auth", "OIDC_CLIENT_AUTH", "client_secret_basic",
            "How the client authenticates at the token endpoint: client_secret_basic | client_secret_post."
        ) { $0.clientAuthentication = $1 },
        oidcSetting(
            "oidc-post-logout-redirect-uri", "OIDC_POST_LOGOUT_REDIRECT_URI", "none",
            "Where the provider sends the browser after signing out (registered at the provider)."
        ) { $0.postLogoutRedirectURI = $1 },
        oidcSetting("oidc-timeout-seconds", "OIDC_TIMEOUT_SECONDS", "5", "Every call to the provider, at most.") {
            $0.timeoutSeconds = Int64(try integer($1, 1...60))
        },
        oidcSetting(
            "oidc-key-refresh-seconds", "OIDC_KEY_REFRESH_SECONDS", "30",
            "An unknown key id refetches the provider's keys at most this often."
        ) { $0.keyRefreshSeconds = Int64(try integer($1, 1...86_400)) },
    ]

    private static let ldapTable: [Setting] = [
        ldapSetting(
            "ldap-url", "LDAP_URL", "none",
            "LDAP: ldaps://host or ldap://host (with --ldap-starttls), several space-separated (turns it on)."
        ) { $0.url = $1 },
        ldapSetting("ldap-starttls", "LDAP_STARTTLS", "false", "LDAP: StartTLS on an ldap:// url.") {
            $0.startTLS = try boolean($1)
        },
        ldapSetting(
            "ldap-ca-file", "LDAP_CA_FILE", "none",
            "LDAP: the PEM CAs that may sign the server's certificate (none: the system's)."
        ) {
            $0.caFile = $1
        },
        ldapSetting(
            "ldap-allow-plain", "LDAP_ALLOW_PLAIN", "false",
            "LDAP: allow plain ldap:// without TLS (passwords in clear; for loopback tests)."
        ) { $0.allowPlain = try boolean($1) },
        ldapSetting(
            "ldap-bind-dn", "LDAP_BIND_DN", "none",
            "LDAP: the service account that searches for users (none: anonymous)."
        ) {
            $0.bindDN = $1
        },
        ldapSetting(
            "ldap-bind-password", "LDAP_BIND_PASSWORD", "none",
            "LDAP: the service account's password (prefer the environment to a flag)."
        ) { $0.bindPassword = $1 },
        ldapSetting("ldap-base-dn", "LDAP_BASE_DN", "none", "LDAP: where users are searched.") { $0.baseDN = $1 },
        ldapSetting(
            "ldap-user-filter", "LDAP_USER_FILTER", "(uid={username})",
            "LDAP: the user search; {username} is the typed name, escaped (RFC 4515)."
        ) { $0.userFilter = $1 },
        ldapSetting(
            "ldap-student-id-attribute", "LDAP_STUDENT_ID_ATTRIBUTE", "uid",
            "LDAP: the attribute that is the student id."
        ) { $0.studentIDAttribute = $1 },
        ldapSetting("ldap-name-attribute", "LDAP_NAME_ATTRIBUTE", "cn", "LDAP: the attribute of the name.") {
            $0.nameAttribute = $1
        },
        ldapSetting("ldap-email-attribute", "LDAP_EMAIL_ATTRIBUTE", "mail", "LDAP: the attribute of the email.") {
            $0.emailAttribute = $1
        },
        ldapSetting(
            "ldap-group-attribute", "LDAP_GROUP_ATTRIBUTE", "memberOf",
            "LDAP: the user's attribute of group DNs ('none': use the group search)."
        ) { $0.groupAttribute = $1 == "none" ? nil : $1 },
        ldapSetting("ldap-group-search-base", "LDAP_GROUP_SEARCH_BASE", "none", "LDAP: where groups are searched.") {
            $0.groupSearchBase = $1
        },
        ldapSetting(
            "ldap-group-search-filter", "LDAP_GROUP_SEARCH_FILTER", "none",
            "LDAP: the group search, e.g. (member={dn}) or (memberUid={username})."
        ) { $0.groupSearchFilter = $1 },
        ldapSetting("ldap-group-name-attribute", "LDAP_GROUP_NAME_ATTRIBUTE", "cn", "LDAP: a found group's name.") {
            $0.groupNameAttribute = $1
        },
        ldapSetting(
            "ldap-timeout-seconds", "LDAP_TIMEOUT_SECONDS", "5", "LDAP: connect, TLS and each operation, at most."
        ) {
            $0.timeoutSeconds = try integer($1, 1...60)
        },
        ldapSetting(
            "ldap-max-concurrent", "LDAP_MAX_CONCURRENT", "4", "LDAP: directory calls at once (each on a thread)."
        ) { $0.maxConcurrent = try integer($1, 1...64) },
    ]

    /// The sign-in settings put together: a source is on when the setting that turns it on is
    /// given; its other settings without it, an OpenID Connect or LDAP configuration that cannot
    /// work, or an SSO proxy without trusted proxies stop the start.
    static func finishIdentity(_ c: inout AppConfiguration) throws(ConfigurationError) {
        let d = c.identity.drafts
        let defaults = IdentitySettings.Drafts()
        if !d.oidc.issuer.isEmpty {
            if let problem = d.oidc.problem() { throw ConfigurationError(problem) }
            c.identity.oidc = d.oidc
        } else if d.oidc != defaults.oidc {
            throw ConfigurationError("the --oidc-* settings need --oidc-issuer")
        }
        if !d.ldap.url.isEmpty {
            try d.ldap.validate()
            c.identity.ldap = d.ldap
        } else if d.ldap != defaults.ldap {
            throw ConfigurationError("the --ldap-* settings need --ldap-url")
        }
        if d.proxyOn {
            guard !c.trustedProxies.isEmpty else {
                throw ConfigurationError("--sso-proxy needs --trusted-proxies: only the proxy may say who signed in")
            }
            c.identity.proxy = d.proxy
        } else if d.proxy != defaults.proxy {
            throw ConfigurationError("the --sso-* settings need --sso-proxy true")
        }
    }

    private static func oidcSetting(
        _ flag: String, _ environment: String, _ defaultText: String, _ help: String,
        _ apply: @escaping @Sendable (inout OIDCSettings, String) throws -> Void
    ) -> Setting {
        setting(flag, environment, defaultText, help) { c, v in try apply(&c.identity.drafts.oidc, v) }
    }

    private static func ldapSetting(
        _ flag: String, _ environment: String, _ defaultText: String, _ help: String,
        _ apply: @escaping @Sendable (inout LDAPSettings, String) throws -> Void
    ) -> Setting {
        setting(flag, environment, defaultText, help) { c, v in try apply(&c.identity.drafts.ldap, v) }
    }

    private static func proxySetting(
        _ flag: String, _ environment: String, _ defaultText: String, _ help: String,
        _ apply: @escaping @Sendable (inout SSOProxySettings, String) throws -> Void
    ) -> Setting {
        setting(flag, environment, defaultText, help) { c, v in try apply(&c.identity.drafts.proxy, v) }
    }

    private static func groupName(_ v: String) throws(ConfigurationError) -> String {
        guard !v.isEmpty, v.utf8.count <= 256, !v.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw ConfigurationError("must be a group name (1-256 bytes)")
        }
        return v
    }

    private static func headerName(_ v: String) throws(ConfigurationError) -> String {
        guard !v.isEmpty, v.utf8.count <= 64,
            v.utf8.allSatisfy({
                $0 == 45 || (48...57).contains($0) || (65...90).contains($0) || (97...122).contains($0)
            })
        else { throw ConfigurationError("must be a header name (letters, digits, '-')") }
        return v
    }

    private static func claimName(_ v: String) throws(ConfigurationError) -> String {
        guard !v.isEmpty, v.utf8.count <= 64 else { throw ConfigurationError("must be a claim name") }
        return v
    }

    private static func displayName(_ v: String) throws(ConfigurationError) -> String {
        guard !v.isEmpty, v.count <= 80, !v.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
            throw ConfigurationError("must be 1-80 characters")
        }
        return v
    }
}
