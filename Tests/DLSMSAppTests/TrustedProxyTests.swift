import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import HTTPTypes
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp

@Suite struct TrustedProxyTests {
    @Test func parsesAddressesAndRanges() throws {
        let p = try TrustedProxies(parsing: "127.0.0.1, 10.0.0.0/8,::1, fd00::/8")
        #expect(p.trusts("127.0.0.1") && p.trusts("10.200.3.4") && p.trusts("::1") && p.trusts("fd12::5"))
        #expect(!p.trusts("11.0.0.1") && !p.trusts("127.0.0.2") && !p.trusts("fe80::1") && !p.trusts("garbage"))
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: "10.0.0.0/33") }
        #expect(throws: ConfigurationError.self) { try TrustedProxies(parsing: "nginx") }
    }

    @Test func onlyTheProxysOwnHeaderIsReadAndRangesAreStrict() throws {
        var p = try TrustedProxies(parsing: "127.0.0.1")
        // nginx appends to X-Forwarded-For and passes Forwarded through: a client's Forwarded is ignored.
        let both: HTTPFields = [.init("X-Forwarded-For")!: "203.0.113.7", .init("Forwarded")!: "for=198.51.100.1"]
        #expect(p.client(peer: "127.0.0.1", headers: both) == "203.0.113.7")
        p.header = .forwarded
        #expect(p.client(peer: "127.0.0.1", headers: both) == "198.51.100.1")
        for bad in ["0.0.0.0/0", "::/0", "127.0.0.1/", "1.2.3.4/+8", "1.2.3.4/ 8", "10.0.0.0/8/8"] {
            #expect(throws: ConfigurationError.self, "\(bad)") { try TrustedProxies(parsing: bad) }
        }
    }

    @Test func clientsAreCountedUnderOneCanonicalKey() {
        #expect(TrustedProxies.key("2001:db8::1") == TrustedProxies.key("2001:0DB8:0:0::7"))
        #expect(TrustedProxies.key("2001:db8::1") == "2001:db8::/64")
        #expect(TrustedProxies.key("2001:db8:0:1::1") != TrustedProxies.key("2001:db8::1"))
        #expect(TrustedProxies.key("::ffff:198.18.1.1") == "198.18.1.1")
        #expect(TrustedProxies.key("198.18.1.1") == "198.18.1.1")
        #expect(TrustedProxies.key("local") == "local")
    }

    @Test func theClientIsTheNearestUntrustedHop() throws {
        let p = try TrustedProxies(parsing: "127.0.0.1,10.0.0.0/8")
        let xff: (String) -> HTTPFields = { [.init("X-Forwarded-For")!: $0] }
        // From a trusted proxy: the last address it did not add itself.
        #expect(p.client(peer: "127.0.0.1", headers: xff("203.0.113.9")) == "203.0.113.9")
        #expect(p.client(peer: "127.0.0.1", headers: xff("1.1.1.1, 203.0.113.9, 10.1.1.1")) == "203.0.113.9")
        var f = p
        f.header = .forwarded
        #expect(
            f.client(peer: "127.0.0.1", headers: [.init("Forwarded")!: #"for="[2001:db8::1]:4711";proto=https"#])
                == "2001:db8::1")
        #expect(f.client(peer: "127.0.0.1", headers: [.init("Forwarded")!: "for=198.51.100.7:80"]) == "198.51.100.7")
        // Garbage, or no header: the proxy itself.
        #expect(p.client(peer: "127.0.0.1", headers: xff("not-an-ip")) == "127.0.0.1")
        #expect(p.client(peer: "127.0.0.1", headers: [:]) == "127.0.0.1")
        // From anyone else the header is a lie it could tell: ignored.
        #expect(p.client(peer: "198.51.100.1", headers: xff("203.0.113.9")) == "198.51.100.1")
        #expect(TrustedProxies().client(peer: "127.0.0.1", headers: xff("203.0.113.9")) == "127.0.0.1")
    }
}
