import DLSMSCore
import Testing

@Suite struct RFC3339Tests {
    @Test func formatsAndParses() {
        #expect(RFC3339.format(0) == "1970-01-01T00:00:00Z")
        #expect(RFC3339.format(1_760_191_200) == "2025-10-11T14:00:00Z")
        #expect(RFC3339.parse("2025-10-11T14:00:00") == 1_760_191_200)  // no offset: UTC
        #expect(RFC3339.parse("2025-10-11T14:00:00Z") == 1_760_191_200)
        #expect(RFC3339.parse("2025-10-11T14:00:00.999Z") == 1_760_191_200)  // truncated
        // Any number of fractional digits is truncated (the contract), not only nine.
        #expect(RFC3339.parse("2025-10-11T14:00:00.1234567890123Z") == 1_760_191_200)
        #expect(RFC3339.parse("2025-10-11T14:00:00." + String(repeating: "9", count: 200) + "+02:00") == 1_760_184_000)
        #expect(RFC3339.parse("2025-10-11T14:00:00." + String(repeating: "9", count: 2_000) + "Z") == nil)
        #expect(RFC3339.parse("2025-10-11T16:00:00+02:00") == 1_760_191_200)
        #expect(RFC3339.parse("2025-10-11T09:30:00-04:30") == 1_760_191_200)
        #expect(RFC3339.parse("2024-02-29T00:00:00Z") != nil)
        #expect(RFC3339.parseDate("2025-10-11") == 1_760_140_800)
    }

    /// An offset cannot carry a time past 9999 or before 1970 (it would be written wrongly).
    @Test func offsetsStayInsideTheYearsWritten() {
        #expect(RFC3339.parse("9999-12-31T23:59:59Z") == RFC3339.latest)
        #expect(RFC3339.format(RFC3339.latest) == "9999-12-31T23:59:59Z")
        #expect(RFC3339.parse("9999-12-31T23:59:59-00:01") == nil)
        #expect(RFC3339.parse("1970-01-01T00:00:00+00:01") == nil)
    }

    @Test func refusesImpossibleAndMalformedTimes() {
        for bad in [
            "2025-02-29T00:00:00Z", "2025-13-01T00:00:00Z", "2025-00-10T00:00:00Z", "2025-10-32T00:00:00Z",
            "2025-10-11T24:00:00Z", "2025-10-11T14:60:00Z", "2025-10-11T14:00:61Z", "2025-10-11", "tomorrow", "",
            "2025-10-11T14:00:00+25:00", "2025-10-11T14:00:00ZZ", "2025-10-11T14:00:00.Z", "１２３４-10-11T14:00:00Z",
            "1900-01-01T00:00:00Z",
        ] {
            #expect(RFC3339.parse(bad) == nil, "\(bad)")
        }
    }

    @Test func roundTripsOverAWideRange() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<10_000 {
            let t = Int64.random(in: 0...4_102_444_800, using: &rng)
            #expect(RFC3339.parse(RFC3339.format(t)) == t)
        }
    }
}
