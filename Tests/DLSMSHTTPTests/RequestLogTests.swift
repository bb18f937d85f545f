import Testing

@testable import DLSMSHTTP

@Suite struct RequestLogTests {
    @Test func queryTokensAreNeverLogged() {
        #expect(RequestLogMiddleware<APIContext>.redacted("token=abc.def.ghi") == "token=<redacted>")
        #expect(RequestLogMiddleware<APIContext>.redacted("a=1&TOKEN=x&b=2") == "a=1&TOKEN=<redacted>&b=2")
        #expect(RequestLogMiddleware<APIContext>.redacted("last_event_id=4") == "last_event_id=4")
    }
}
