import Foundation

extension TestLDAPServer {
    /// Runs a tool (30 s at most); throws with its output unless it exits 0.
    @discardableResult
    static func tool(_ path: String, _ arguments: [String], in dir: String? = nil) throws -> String {
        let result = try runProgramBlocking(path, arguments, timeout: 30)
        guard result.status == 0, !result.timedOut else {
            throw FixtureError(
                "\(path) \(arguments.joined(separator: " ")): status \(result.status)\n\(result.output)\(result.error)")
        }
        return result.output
    }

    /// ca.pem (the test CA), other-ca.pem (another CA of the same name) and server.pem/server.key
    /// (for 127.0.0.1, signed by the test CA), all P-256.
    static func makeCertificates(in dir: String) throws {
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        for name in ["ca", "other-ca"] {
            try tool(
                openssl,
                ["req", "-x509"] + ec + [
                    "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem", "-days", "2",
                    "-subj", "/CN=DL-SMS test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                ])
        }
        try tool(
            openssl,
            ["req"] + ec + ["-keyout", "\(dir)/server.key", "-out", "\(dir)/server.csr", "-subj", "/CN=127.0.0.1"])
        let extensions = """
            subjectAltName=IP:127.0.0.1
            basicConstraints=CA:FALSE
            keyUsage=critical,digitalSignature,keyEncipherment
            extendedKeyUsage=serverAuth

            """
        try Data(extensions.utf8).write(to: URL(fileURLWithPath: "\(dir)/server.ext"))
        try tool(
            openssl,
            [
                "x509", "-req", "-in", "\(dir)/server.csr", "-CA", "\(dir)/ca.pem", "-CAkey", "\(dir)/ca.key",
                "-CAcreateserial", "-out", "\(dir)/server.pem", "-days", "2", "-extfile", "\(dir)/server.ext",
            ])
    }

    /// slapd.conf, and the entries (all but the groups) loaded with slapadd into `dir`/db.
    static func writeDatabase(in dir: String) throws {
        try FileManager.default.createDirectory(atPath: dir + "/db", withIntermediateDirectories: true)
        try Data(slapdConfiguration(dir).utf8).write(to: URL(fileURLWithPath: dir + "/slapd.conf"))
        try Data(try entries().utf8).write(to: URL(fileURLWithPath: dir + "/entries.ldif"))
        try Data(groups().utf8).write(to: URL(fileURLWithPath: dir + "/groups.ldif"))
        try tool(slapadd, ["-f", dir + "/slapd.conf", "-l", dir + "/entries.ldif"])
    }

    static func slapdConfiguration(_ dir: String) -> String {
        """
        include /etc/ldap/schema/core.schema
        include /etc/ldap/schema/cosine.schema
        include /etc/ldap/schema/inetorgperson.schema
        include /etc/ldap/schema/nis.schema
        modulepath /usr/lib/ldap
        moduleload back_mdb
        moduleload memberof
        moduleload ppolicy
        pidfile \(dir)/slapd.pid
        argsfile \(dir)/slapd.args
        TLSCACertificateFile \(dir)/ca.pem
        TLSCertificateFile \(dir)/server.pem
        TLSCertificateKeyFile \(dir)/server.key
        allow bind_anon_dn
        database mdb
        suffix "\(baseDN)"
        rootdn "\(adminDN)"
        rootpw \(adminPassword)
        directory \(dir)/db
        maxsize 16777216
        overlay memberof
        overlay ppolicy
        ppolicy_default "cn=default,ou=policies,\(baseDN)"
        access to attrs=userPassword by anonymous auth by self write by * none
        access to * by * read

        """
    }

    /// The organisation, its units, the password policy, the service account and the people
    /// (passwords as `{SSHA}` hashes from slappasswd).
    static func entries() throws -> String {
        var ldif = """
            dn: \(baseDN)
            objectClass: dcObject
            objectClass: organization
            dc: campus
            o: Campus Test

            """
        for unit in ["people", "alumni", "groups", "services", "policies"] {
            ldif += "\ndn: ou=\(unit),\(baseDN)\nobjectClass: organizationalUnit\nou: \(unit)\n"
        }
        ldif += """

            dn: cn=default,ou=policies,\(baseDN)
            objectClass: device
            objectClass: pwdPolicy
            cn: default
            pwdAttribute: userPassword
            pwdLockout: TRUE

            dn: \(serviceDN)
            objectClass: organizationalRole
            objectClass: simpleSecurityObject
            cn: dlsms-reader
            userPassword: \(try hash(servicePassword))

            """
        for person in people { ldif += try entry(person) }
        return ldif
    }

    static func entry(_ person: Person) throws -> String {
        var ldif = """

            dn: \(person.dn)
            objectClass: inetOrgPerson
            uid: \(person.uid)
            cn:: \(Data(person.name.utf8).base64EncodedString())
            sn: \(person.name.split(separator: " ").last ?? "")
            mail: \(person.mail)
            userPassword: \(try hash(person.password))

            """
        if let id = person.studentID { ldif += "employeeNumber: \(id)\n" }
        if person.uid == carol.uid { ldif += "pwdAccountLockedTime: 000001010000Z\n" }
        return ldif
    }

    static func hash(_ password: String) throws -> String {
        try tool(slappasswd, ["-s", password]).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The groups (groupOfNames), added once slapd runs.
    static func groups() -> String {
        var ldif = ""
        for group in ["students", "library-staff"] {
            ldif += "dn: cn=\(group),ou=groups,\(baseDN)\nobjectClass: groupOfNames\ncn: \(group)\n"
            for person in people where person.groups.contains(group) { ldif += "member: \(person.dn)\n" }
            ldif += "\n"
        }
        return ldif
    }

    /// slapd on two free loopback ports, waited for (20 s at most); tried again on other ports
    /// if it exits first (a port taken meanwhile).
    static func launch(in dir: String) async throws -> TestLDAPServer {
        var lastLog = ""
        for _ in 0..<3 {
            let (port, tlsPort) = (try closedLoopbackPort(), try closedLoopbackPort())
            let p = Process()
            p.executableURL = URL(fileURLWithPath: slapd)
            p.arguments = [
                "-h", "ldap://127.0.0.1:\(port)/ ldaps://127.0.0.1:\(tlsPort)/", "-f", dir + "/slapd.conf", "-d", "0",
            ]
            _ = FileManager.default.createFile(atPath: dir + "/slapd.log", contents: nil)
            p.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: dir + "/slapd.log"))
            p.standardOutput = FileHandle.nullDevice
            try p.run()
            let deadline = ContinuousClock.now + .seconds(20)
            while p.isRunning && ContinuousClock.now < deadline {
                if loopbackAccepts(port) && loopbackAccepts(tlsPort) {
                    return TestLDAPServer(directory: dir, port: port, tlsPort: tlsPort, process: p)
                }
                try await Task.sleep(for: .milliseconds(20))
            }
            if p.isRunning { kill(p.processIdentifier, SIGKILL) }
            p.waitUntilExit()
            lastLog = (try? String(contentsOfFile: dir + "/slapd.log", encoding: .utf8)) ?? ""
        }
        throw FixtureError("slapd did not start listening:\n\(lastLog)")
    }

    /// The groups, added as the root DN so that the memberof overlay writes `memberOf`.
    func addGroups() throws {
        try Self.tool(
            Self.ldapadd,
            ["-x", "-H", url, "-D", Self.adminDN, "-w", Self.adminPassword, "-f", directory + "/groups.ldif"])
    }
}
