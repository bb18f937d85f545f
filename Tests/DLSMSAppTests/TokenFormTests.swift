import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp

@Suite struct TokenFormTests {
    @Test func onlyCanonicalBase64URLIsAccepted() {
        #expect(TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAAA"))
        #expect(TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAE"))  // 2 bytes, zero padding bits
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAF"))  // non-zero padding bits
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAAA="))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AA+A"))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.A"))  // no byte ends there
        #expect(!TokenService.isCanonicalCompactJWS("eyJh..AAAA"))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz"))
        #expect(!TokenService.isCanonicalCompactJWS("eyJh.eyJz.AAAA.AAAA"))
    }

    @Test func theSecretMustBeLongEnough() {
        #expect(throws: ConfigurationError.self) {
            _ = try TokenService.loadSecret(configured: "short", dataDirectory: "/nonexistent")
        }
        #expect(
            (try? TokenService.loadSecret(
                configured: "test-secret-test-secret-test-secret-0123", dataDirectory: "/nonexistent")) != nil)
    }
}
