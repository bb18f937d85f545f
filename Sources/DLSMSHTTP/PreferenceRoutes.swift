import DLSMSApp
import DLSMSCore
import DLSMSEngine
import Foundation
import Hummingbird

/// `GET`/`PUT /me/preferences`: the student's language and which emails they get.
package func addPreferenceRoutes(to api: RouterGroup<APIContext>, service: LibraryService) {
    let engine = service.engine
    api.get("/me/preferences") { _, context -> Response in
        let caller = try context.requireCaller()
        guard let user = engine.user(id: caller.userID) else { throw APIError.unauthorized }
        return Render.response { preferences(user, &$0) }
    }

    api.put("/me/preferences") { request, context -> Response in
        let caller = try context.requireCaller()
        var request = request
        let body = try await request.decodeJSON(PreferencesBody.self)
        let change = try body.change()
        let user = try await engine.updateUser(id: caller.userID, change)
        return Render.response { preferences(user, &$0) }
    }
}

private func preferences(_ user: User, _ w: inout JSONWriter) {
    w.object {
        $0.field("language", user.language.isEmpty ? nil : user.language)
        $0.field("languages", array: Language.allCases) { w, l in w.value(l.rawValue) }
        $0.field("email", user.mail.address.isEmpty ? (user.email.isEmpty ? nil : user.email) : user.mail.address)
        $0.field("email_source", user.mail.address.isEmpty ? (user.email.isEmpty ? nil : "identity") : "confirmed")
        $0.field("email_kinds") { w in
            for kind in MailKind.preferences { w.field(name: kind.name, user.mail.wants(kind)) }
        }
        $0.field("reminder_minutes", Int(user.mail.reminderMinutes))
    }
}

/// `{"language": "de" | null, "email_kinds": {"reminder": false, …}, "reminder_minutes": 15}`,
/// each optional; `null` (or `""`) for the language: none chosen.
package struct PreferencesBody: JSONNamedKeys {
    var languageGiven = false
    var language: String?
    var emailKinds: [String: Bool]?
    var reminderMinutes: Int?

    /// The JSON's own names (no key conversion: `EMAIL_KINDS` or `reminderMinutes` are unknown).
    enum CodingKeys: String, CodingKey, CaseIterable {
        case language
        case emailKinds = "email_kinds"
        case reminderMinutes = "reminder_minutes"
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: AnyKey.self)
        for key in c.allKeys where CodingKeys(stringValue: key.stringValue) == nil {
            throw APIError.badRequest("unknown field '\(key.stringValue.prefix(64))'")
        }
        let known = try decoder.container(keyedBy: CodingKeys.self)
        languageGiven = known.contains(.language)
        language = try known.decodeIfPresent(String.self, forKey: .language)
        emailKinds = try known.decodeIfPresent([String: Bool].self, forKey: .emailKinds)
        reminderMinutes = try known.decodeIfPresent(Int.self, forKey: .reminderMinutes)
    }

    /// The change the body asks for, checked before anything is changed.
    func change() throws(APIError) -> @Sendable (inout User) -> Void {
        var language: String?
        if languageGiven {
            let tag = self.language ?? ""
            guard tag.isEmpty || Language(rawValue: tag) != nil else {
                let names = Language.allCases.map(\.rawValue).joined(separator: ", ")
                throw APIError.badRequest("language must be one of \(names), or null")
            }
            language = tag
        }
        var kinds: [(MailKind, Bool)] = []
        for (name, on) in (emailKinds ?? [:]).sorted(by: { $0.key < $1.key }) {
            guard let kind = MailKind(name: name), kind != .address else {
                let names = MailKind.preferences.map(\.name).joined(separator: ", ")
                throw APIError.badRequest("email_kinds: unknown kind '\(name.prefix(64))' (one of \(names))")
            }
            kinds.append((kind, on))
        }
        let limit = Int(MailPreferences.maxReminderMinutes)
        if let minutes = reminderMinutes, !(0...limit).contains(minutes) {
            throw APIError.badRequest("reminder_minutes must be between 0 (no reminder) and \(limit)")
        }
        let minutes = reminderMinutes.map(Int32.init)
        return { [language, kinds] user in
            if let language { user.language = language }
            for (kind, on) in kinds { user.mail.set(kind, on: on) }
            if let minutes { user.mail.reminderMinutes = minutes }
        }
    }
}

private struct AnyKey: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}
