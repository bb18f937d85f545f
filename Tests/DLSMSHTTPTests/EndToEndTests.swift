import DLSMSCore
import DLSMSTestSupport
import Foundation
import Synchronization
import Testing

@Suite(.serialized) struct EndToEndTests {
    /// The original DL-SMS test commands against the real server, then a restart.
    @Test func theOriginalFlowSurvivesARestart() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ServerProcess(dataDirectory: dir)
        try await server.waitUntilListening()
        let now = Int64(Date().timeIntervalSince1970)
        let slot = (now / 3_600 + 3) * 3_600

        #expect(try await server.request("GET", "/healthz").0 == 200)
        let token = try await server.login("S2021001")
        let (s1, seats) = try await server.request("GET", "/seats?available_only=true", token: token)
        #expect(s1 == 200 && (seats["count"] as? Int ?? 0) >= 45)
        let (_, power) = try await server.request("GET", "/seats?branch=Main%20Library&has_power=true", token: token)
        #expect(power["count"] as? Int == 19)
        let (_, monitor) = try await server.request("GET", "/seats?has_monitor=true&available_only=false", token: token)
        #expect(monitor["count"] as? Int == 21)
        let (_, area) = try await server.request(
            "GET", "/seats?area=Group%20Study%20Zone&available_only=false", token: token)
        #expect(area["count"] as? Int == 10)
        let (_, branches) = try await server.request("GET", "/branches", token: token)
        #expect((branches["branches"] as? [Any])?.count == 3)

        let (b1, booked) = try await server.request(
            "POST", "/reservations", token: token, json: booking(10, slot, slot + 7_200))
        #expect(b1 == 201)
        let bookedID = booked["id"] as? Int ?? 0
        let (b2, conflict) = try await server.request(
            "POST", "/reservations", token: token, json: booking(10, slot + 3_600, slot + 3 * 3_600))
        #expect(b2 == 409 && conflict["code"] as? String == "seat_conflict")

        var tokens: [String] = []
        for n in 2...10 { tokens.append(try await server.login(SeedData.studentID(n))) }
        tokens.append(token)
        let statuses = await withTaskGroup(of: Int.self) { group in
            for t in tokens {
                group.addTask {
                    (try? await server.request("POST", "/reservations", token: t, json: booking(11, slot, slot + 3_600)))?
                        .0 ?? 0
                }
            }
            return await group.reduce(into: [Int]()) { $0.append($1) }
        }
        #expect(statuses.filter { $0 == 201 }.count == 1 && statuses.filter { $0 == 409 }.count == 9)

        let (_, mine) = try await server.request("GET", "/reservations/mine?upcoming_only=true", token: token)
        #expect((mine["reservations"] as? [[String: Any]])?.contains { $0["id"] as? Int == bookedID } == true)
        let (c, cancelled) = try await server.request("DELETE", "/reservations/\(bookedID)", token: token)
        #expect(c == 200 && cancelled["status"] as? String == "CANCELLED")

        let nowText = RFC3339.format(now).replacingOccurrences(of: "Z", with: "")
        let laterText = RFC3339.format(now + 7_200).replacingOccurrences(of: "Z", with: "")
        let other = tokens[0]
        let (n1, bookNow) = try await server.request(
            "POST", "/reservations", token: other,
            json: #"{"seat_id":20,"start_time":"\#(nowText)","end_time":"\#(laterText)"}"#)
        #expect(n1 == 201)
        let nowID = bookNow["id"] as? Int ?? 0
        let (ci, checked) = try await server.request("POST", "/reservations/\(nowID)/checkin", token: other)
        #expect(ci == 200 && checked["status"] as? String == "CHECKED_IN")

        let (w, entry) = try await server.request(
            "POST", "/waitlist", token: token,
            json: #"{"seat_id":1,"desired_time":"\#(RFC3339.format(slot + 4 * 3_600))"}"#)
        #expect(w == 201)
        let (_, waitlist) = try await server.request("GET", "/waitlist/mine", token: token)
        #expect(
            (waitlist["waitlist"] as? [[String: Any]])?.contains { $0["id"] as? Int == entry["id"] as? Int } == true)

        #expect(await server.stopped() == 0)  // SIGTERM: drain, final snapshot, flush

        let again = try ServerProcess(dataDirectory: dir)
        try await again.waitUntilListening()
        defer { _ = again.stop() }
        let token2 = try await again.login("S2021001")  // same secret, kept in the data directory
        let (_, r1) = try await again.request("GET", "/reservations/\(bookedID)", token: token2)
        #expect(r1["status"] as? String == "CANCELLED")
        let otherAgain = try await again.login(SeedData.studentID(2))
        let (_, r2) = try await again.request("GET", "/reservations/\(nowID)", token: otherAgain)
        #expect(r2["status"] as? String == "CHECKED_IN")
        let (_, w2) = try await again.request("GET", "/waitlist/mine", token: token2)
        #expect((w2["waitlist"] as? [[String: Any]])?.contains { $0["id"] as? Int == entry["id"] as? Int } == true)
        // Tokens from before the restart still verify.
        let (_, old) = try await again.request("GET", "/auth/me", token: token)
        #expect(old["student_id"] as? String == "S2021001")
    }

    /// A waitlisted student receives `seat_offered` on the stream when another student cancels
    /// (pushed by the cancel itself: the sweep runs once an hour here, so it cannot be what
    /// offered the seat; how fast is measured by the load generator, not asserted); a third student's booking meanwhile is refused (the seat is held); the
    /// waiter accepts. `Last-Event-ID` replays what was missed.
    @Test func serverSentEvents() async throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let server = try ServerProcess(
            dataDirectory: dir, extra: ["--sse-heartbeat", "1", "--sweep-interval", "3600"])
        try await server.waitUntilListening()
        defer { _ = server.stop() }
        let slot = (Int64(Date().timeIntervalSince1970) / 3_600 + 2) * 3_600
        let holder = try await server.login("S2021009")
        let waiter = try await server.login("S2021010")
        // Science Library seats: the seed's branch waiter (any Main Library seat) does not compete.
        let (_, r) = try await server.request(
            "POST", "/reservations", token: holder, json: booking(33, slot, slot + 3_600))
        _ = try await server.request(
            "POST", "/waitlist", token: waiter, json: #"{"seat_id":33,"desired_time":"\#(RFC3339.format(slot))"}"#)

        let stream = try #require(
            RawConnection.eventStream(port: server.port, path: "/notifications/stream?token=\(waiter)"))
        #expect(await stream.waitFor(": connected", timeout: 5))
        _ = try await server.request("DELETE", "/reservations/\(r["id"] as! Int)", token: holder)
        #expect(await stream.waitFor("event: seat_offered", timeout: 10))
        let other = try await server.login("S2021008")
        let (refused, why) = try await server.request(
            "POST", "/reservations", token: other, json: booking(33, slot, slot + 3_600))
        #expect(refused == 409 && why["code"] as? String == "seat_conflict")
        let (_, mine) = try await server.request("GET", "/waitlist/mine", token: waiter)
        let entryID =
            (mine["waitlist"] as? [[String: Any]])?.first { $0["status"] as? String == "OFFERED" }?["id"] as? Int
        let (took, booked) = try await server.request("POST", "/waitlist/\(entryID ?? 0)/accept", token: waiter)
        #expect(took == 201 && booked["seat_id"] as? Int == 33 && booked["status"] as? String == "CONFIRMED")
        #expect(await stream.waitFor(": heartbeat", timeout: 5))
        let firstID = stream.text.components(separatedBy: "id: ").dropFirst().first?.prefix { $0.isNumber } ?? ""
        stream.shutdownBoth()
        // A new stream without Last-Event-ID carries only what is created after it opened.
        let fresh = try #require(
            RawConnection.eventStream(port: server.port, path: "/notifications/stream?token=\(waiter)"))
        #expect(await fresh.waitFor(": heartbeat", timeout: 5))
        #expect(!fresh.text.contains("event: seat_offered"))
        fresh.shutdownBoth()

        // A second notification while disconnected, then resume after the first.
        let (_, r2) = try await server.request(
            "POST", "/reservations", token: holder, json: booking(34, slot + 7_200, slot + 10_800))
        _ = try await server.request(
            "POST", "/waitlist", token: waiter,
            json: #"{"seat_id":34,"desired_time":"\#(RFC3339.format(slot + 7_200))"}"#)
        _ = try await server.request("DELETE", "/reservations/\(r2["id"] as! Int)", token: holder)
        let resumed = try #require(
            RawConnection.eventStream(
                port: server.port, path: "/notifications/stream?token=\(waiter)", lastEventID: String(firstID)))
        #expect(await resumed.waitFor("event: seat_offered", timeout: 5))
        #expect(!resumed.text.contains("id: \(firstID)\n"))  // no duplicate
        #expect(resumed.text.contains("\"seat_id\":34"))
        resumed.shutdownBoth()
    }
}
