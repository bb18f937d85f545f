import DLSMSCore
import DLSMSTestSupport
import Foundation
import Testing

@testable import DLSMSApp
@testable import DLSMSAssembly
@testable import DLSMSGRPC
@testable import DLSMSHTTP
@testable import DLSMSReplication

@Suite struct FlatJSONTests {
    /// What `JSONDecoder` makes of a booking body (nil: it refuses it).
    func decoded(_ text: [UInt8]) -> BookingBody? {
        try? JSONDecoder().decode(BookingBody.self, from: Data(text))
    }

    func fast(_ text: [UInt8]) -> BookingBody? {
        text.withUnsafeBytes { FlatJSON.members($0) }.flatMap(BookingBody.flat)
    }

    func same(_ a: BookingBody?, _ b: BookingBody?) -> Bool {
        a?.seatId == b?.seatId && a?.startTime == b?.startTime && a?.endTime == b?.endTime && (a == nil) == (b == nil)
    }

    @Test func theUsualBodiesAreReadWithoutJSONDecoder() {
        let usual = [
            #"{"seat_id":12,"start_time":"2026-11-27T10:00:00Z","end_time":"2026-11-27T11:00:00Z"}"#,
            #" { "end_time" : "b" ,"seat_id": -0, "start_time":"a" } "#, "{}", "{\"seat_id\":7}\n",
        ]
        for text in usual {
            let bytes = Array(text.utf8)
            #expect(fast(bytes) != nil, "\(text)")
            #expect(same(fast(bytes), decoded(bytes)), "\(text)")
        }
        #expect(fast(Array(usual[0].utf8))?.seatId == 12)
        #expect(fast(Array(#"{"seat_id":-999999999999999999}"#.utf8))?.seatId == -999_999_999_999_999_999)
        #expect(fast(Array(usual[0].utf8))?.endTime == "2026-11-27T11:00:00Z")
    }

    /// Everything out of the ordinary is left to JSONDecoder: escapes, non-ASCII, other types,
    /// fractions, exponents, leading zeros, long numbers, repeated or unknown keys, nesting, junk.
    @Test func anythingElseIsLeftToJSONDecoder() {
        let unusual = [
            #"{"seat_id":1,"start_time":"a\"b"}"#, #"{"seat_id":1,"start_time":"é"}"#, #"{"seat_id":"1"}"#,
            #"{"seat_id":1.0}"#, #"{"seat_id":1e2}"#, #"{"seat_id":01}"#, #"{"seat_id":1234567890123456789}"#,
            #"{"seat_id":1,"seat_id":2}"#, #"{"seat":1}"#, #"{"seat_id":{"a":1}}"#, #"{"seat_id":null}"#,
            #"{"seat_id":1}x"#, #"{"seat_id":1,}"#, #"{"seat_id" 1}"#, "[1]", "", "{", #"{"seat_id":-}"#,
            #"{"seat_id":true}"#, "\u{FEFF}{}", #"{"start_time":"tab\there"}"#,
            // 19 digits and more: beyond what the reader takes (and beyond Int64 from 9223372036854775808).
            #"{"seat_id":9999999999999999999}"#, #"{"seat_id":-9223372036854775808}"#,
            #"{"seat_id":1234567890123456789}"#, #"{"start_time":"x","z":99999999999999999999999}"#,
        ]
        for text in unusual { #expect(fast(Array(text.utf8)) == nil, "\(text)") }
    }

    /// Random bodies and random damage to them: whenever the fast path answers, it is what
    /// JSONDecoder answers.
    @Test func whereItAnswersItAgreesWithJSONDecoder() {
        let seed = testSeed("FlatJSONTests")
        var rng = SplitMix64(seed: seed)
        let alphabet = Array(#"{}[]":, -0123456789.eE"\tnul"#.utf8) + [0x0A, 0xC3, 0xA9]
        var answered = 0
        for _ in 0..<20_000 {
            var text = Array(
                #"{"seat_id":\#(Int.random(in: -5...5000, using: &rng)),"start_time":"2026-11-27T10:00:00Z","end_time":"x"}"#
                    .utf8)
            for _ in 0..<Int.random(in: 0...3, using: &rng) {
                let at = Int.random(in: 0..<text.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: text.remove(at: at)
                case 1: text.insert(alphabet.randomElement(using: &rng)!, at: at)
                default: text[at] = alphabet.randomElement(using: &rng)!
                }
            }
            if let f = fast(text) {
                answered += 1
                #expect(same(f, decoded(text)), "seed \(seed): \(String(decoding: text, as: UTF8.self))")
            }
        }
        #expect(answered > 1_000)
    }
}
