import DLSMSCore
import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSHTTP

/// Query strings as forms and the original's clients write them: `+` is a space, `%2B` a plus.
@Suite struct QueryStringTests {
    @Test func aPlusIsASpace() {
        let q = ParsedQuery("branch=Main+Library&area=Silent%20Study+Zone&x=a%2Bb&y&branch=Second&bad=%E0%A4%A")
        #expect(q.query("branch") == "Main Library")  // the first of two
        #expect(q.query("area") == "Silent Study Zone")
        #expect(q.query("x") == "a+b" && q.query("y") == "" && q.query("z") == nil)
        #expect(q.query("bad") == "%E0%A4%A")  // a malformed escape stays as sent
        #expect(ParsedQuery("").parameters.isEmpty && ParsedQuery("&&").parameters.isEmpty)
    }

    @Test func escapesDecodeToUTF8OrStayAsSent() {
        let cases: [(String, String)] = [
            ("a+b%2Bc", "a b+c"), ("%E2%82%AC+%e2%82%ac", "€ €"), ("100%", "100%"), ("%4", "%4"), ("%zz+1", "%zz 1"),
            ("%FF", "%FF"), ("%C3%28", "%C3%28"), ("caf%C3%A9", "café"), ("plain", "plain"), ("%25", "%"),
        ]
        for (raw, expected) in cases {
            #expect(ParsedQuery.decode(Substring(raw)) == expected, "\(raw)")
            // Foundation's reading, where it has one, agrees.
            if let foundation = raw.replacingOccurrences(of: "+", with: " ").removingPercentEncoding {
                #expect(foundation == expected, "\(raw)")
            }
        }
    }

    @Test func branchesWithSpacesAreFoundInSearchesAndReports() async throws {
        try await withService { client, _, _ in
            let student = try await client.login("S2021001")
            let plus = try await client.call(.get, "/seats?branch=Main+Library&available_only=false", token: student)
            let encoded = try await client.call(
                .get, "/seats?branch=Main%20Library&available_only=false", token: student)
            #expect(plus.status == .ok && plus.json["count"] as? Int == 25 && plus.text == encoded.text)
            let area = try await client.call(
                .get, "/seats?branch=Main+Library&area=Group+Study+Zone&available_only=false", token: student)
            #expect(area.json["count"] as? Int == 10)
            let admin = try await client.login("admin", "admin-password")
            let report = try await client.call(.get, "/admin/reports/utilisation?branch=Main+Library", token: admin)
            #expect(report.status == .ok, "\(report.text)")
        }
    }

    /// A time's offset: `Z` or `%2B01:00`; a raw `+` is a space, refused with a message that says
    /// how to send it.
    @Test func offsetsInQueryTimes() async throws {
        try await withService { client, _, _ in
            let student = try await client.login("S2021001")
            let start = iso(t0 + 86_400)
            let end = iso(t0 + 90_000)
            let z = try await client.call(.get, "/seats?start_time=\(start)&end_time=\(end)", token: student)
            let plusOne = { (t: Timestamp) in RFC3339.format(t + 3_600).replacingOccurrences(of: "Z", with: "") }
            let shifted = try await client.call(
                .get, "/seats?start_time=\(plusOne(t0 + 86_400))%2B01:00&end_time=\(plusOne(t0 + 90_000))%2B01:00",
                token: student)
            #expect(z.status == .ok && shifted.status == .ok && z.text == shifted.text)
            let raw = try await client.call(
                .get, "/seats?start_time=\(plusOne(t0 + 86_400))+01:00&end_time=\(plusOne(t0 + 90_000))+01:00",
                token: student)
            #expect(raw.status == .badRequest && raw.text.contains("%2B"), "\(raw.text)")
        }
    }
}
