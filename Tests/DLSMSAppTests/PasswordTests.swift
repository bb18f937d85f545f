import Testing

@testable import DLSMSApp

@Suite struct PasswordTests {
    /// A hash made by Python's bcrypt 5.0 (`bcrypt.hashpw(b"password123", bcrypt.gensalt(12))`), as the
    /// original DL-SMS stored them: it verifies as it is.
    static let pythonHash = "$2b$12$yNcODtrhLA5WaY7Ck2enuOmJyGrBEVtMiuhTCnk4KUPPQ82AIOcWW"

    @Test func theOriginalsHashesVerify() {
        #expect(Bcrypt.verify("password123", hash: Self.pythonHash))
        #expect(!Bcrypt.verify("password124", hash: Self.pythonHash))
        #expect(!Bcrypt.verify("password123", hash: "not a hash"))
        #expect(!Bcrypt.verify("password123", hash: ""))
    }

    @Test func newHashesAre2bWithTheCost() throws {
        let h = try #require(Bcrypt.hash("correct horse", cost: 5))
        #expect(h.hasPrefix("$2b$05$") && h.count == 60)
        #expect(Bcrypt.verify("correct horse", hash: h))
        #expect(!Bcrypt.verify("correct horsf", hash: h))
        #expect(Bcrypt.hash("a\u{0}b", cost: 4) == nil)  // NUL would truncate the C string
    }

    @Test func unknownStudentsCostTheSameAndFail() async throws {
        let hasher = PasswordHasher(cost: 4, concurrency: 1)
        let known = try await hasher.hash("password123")
        #expect(try await hasher.verify("password123", hash: known))
        #expect(try await !hasher.verify("password123", hash: nil))
    }
}
