import Foundation
import Testing

@testable import DLSMSApp

@Suite struct JSONWriterTests {
    @Test func escapesAndRoundTrips() throws {
        let nasty = "quote \" backslash \\ newline \n tab \t bell \u{07} nul \u{00} é 😀 </script>"
        var w = JSONWriter()
        w.object {
            $0.field("s", nasty)
            $0.field("n", -1_234_567_890_123 as Int64)
            $0.field("z", 0)
            $0.field("none", nil as String?)
            $0.field("yes", true)
            $0.time("t", 1_760_191_200)
            $0.field("list", array: ["a", "b\"c"]) { $0.value($1) }
        }
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(w.bytes)) as? [String: Any])
        #expect(parsed["s"] as? String == nasty)
        #expect(parsed["n"] as? Int == -1_234_567_890_123 && parsed["z"] as? Int == 0)
        #expect(parsed["none"] is NSNull && parsed["yes"] as? Bool == true)
        #expect(parsed["t"] as? String == "2025-10-11T14:00:00Z")
        #expect(parsed["list"] as? [String] == ["a", "b\"c"])
    }
}
