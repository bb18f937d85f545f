import Crypto
import DLSMSCore
import DLSMSEngine
import DLSMSTestSupport
import Dispatch
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import JWTKit
import Synchronization
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

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
        #expect((try? TokenService.loadSecret(configured: testSecret, dataDirectory: "/nonexistent")) != nil)
    }

    @Test func queryTokensAreNeverLogged() {
        #expect(RequestLogMiddleware<APIContext>.redacted("token=abc.def.ghi") == "token=<redacted>")
        #expect(RequestLogMiddleware<APIContext>.redacted("a=1&TOKEN=x&b=2") == "a=1&TOKEN=<redacted>&b=2")
        #expect(RequestLogMiddleware<APIContext>.redacted("last_event_id=4") == "last_event_id=4")
    }
}
