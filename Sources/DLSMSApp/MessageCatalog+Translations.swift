extension MessageCatalog {
    public static let german: [String: String] = [
        "time.range": "{day}, {start}–{end}",
        "time.range_days": "{start} – {end}",

        "notice.cancelled_by_staff":
            "Die Reservierung {reservation} für Platz {seat} wurde vom Bibliothekspersonal storniert.",
        "notice.no_show":
            "Die Reservierung {reservation} für Platz {seat} wurde freigegeben: Innerhalb der Kulanzzeit hat niemand eingecheckt.",
        "notice.stay_ended": "Ihr Aufenthalt an Platz {seat} (Reservierung {reservation}) ist beendet.",
        "notice.offered":
            "Platz {seat} ({branch}, {area}) ist bis {until} für Sie reserviert. Nehmen Sie den Wartelisteneintrag {entry} an, um ihn zu buchen.",
        "notice.offer_expired":
            "Die Reservierung von Platz {seat} für Ihren Wartelisteneintrag {entry} ist abgelaufen; er ging an die nächste Person.",
        "notice.strike":
            "Ein Verstoß wurde vermerkt ({strike}). Er zählt bis {until}; {threshold} innerhalb von {window} Tagen sperren das Buchen für {days} Tage.",
        "notice.suspended": "Das Buchen ist bis {until} gesperrt: {strikes}.",
        "notice.cancelled_by_library":
            "Die Reservierung {reservation} für Platz {seat} wurde von der Bibliothek storniert: {why}",
        "notice.closed_now":
            "Ihr Aufenthalt an Platz {seat} (Reservierung {reservation}) ist beendet: Die Bibliothek ist jetzt geschlossen: {why}",
        "notice.closes_at":
            "Ihr Aufenthalt an Platz {seat} (Reservierung {reservation}) endet um {at}: Die Bibliothek schließt dann: {why}",
        "notice.extended":
            "Das Bibliothekspersonal hat die Reservierung {reservation} für Platz {seat} bis {end} verlängert.",
        "notice.away_ended":
            "Sie sind nicht bis {at} zu Platz {seat} zurückgekehrt: Die Reservierung {reservation} endete und der Platz wurde freigegeben.",
        "notice.waitlist_closed":
            "Ihr Wartelisteneintrag {entry} wurde storniert: {place} ist von {start} bis {end} geschlossen: {why}",
        "notice.booked_by_staff":
            "Das Bibliothekspersonal hat Platz {seat} für Sie von {start} bis {end} gebucht (Reservierung {reservation}).",
        "notice.waitlist_cancelled":
            "Ihr Wartelisteneintrag {entry} für Platz {seat} wurde von der Bibliothek storniert: {why}",
        "notice.moved":
            "Das Bibliothekspersonal hat die Reservierung {reservation} von Platz {from} auf Platz {seat} verlegt: Sie ist jetzt Reservierung {new}.",
        "notice.together": "{who} hat Platz {seat} für Sie mit der Gruppe gebucht: Reservierung {reservation}.",

        "strike.no_show": "nicht erschienen: Platz {seat}, Reservierung {reservation}, {at}",
        "strike.late_cancel": "späte Stornierung: Platz {seat}, Reservierung {reservation}, {at}",

        "calendar.name": "Bibliotheksplätze: {name}",
        "calendar.summary": "Platz {seat} ({branch})",
        "calendar.summary_bare": "Platz {seat}",
        "calendar.location": "{branch}, {area}, Platz {seat}",
        "calendar.location_bare": "Platz {seat}",
        "calendar.description": "Reservierung {reservation}: {status}",

        "mail.greeting": "Hallo {name},",
        "mail.signature": "Die Platzbuchung Ihrer Bibliothek (DL-SMS)",
        "mail.footer":
            "Sie erhalten diese E-Mail zu Ihren Platzreservierungen. Wählen Sie, welche E-Mails Sie erhalten: {link}",
        "mail.unsubscribe": "Alle diese E-Mails abbestellen: {link}",
        "mail.details": "Platz {seat} ({place}), {when}",
        "mail.confirmed.subject": "Gebucht: Platz {seat}, {when}",
        "mail.confirmed.body":
            "Ihr Platz ist gebucht: {details}. Checken Sie bei Ihrer Ankunft am Platz ein; ein Platz ohne Check-in wird nach der Kulanzzeit weitergegeben. Mit dem angehängten Kalendereintrag übernehmen Sie ihn in Ihren Kalender.",
        "mail.reminder.subject": "Erinnerung: Platz {seat} um {time}",
        "mail.reminder.body": "Ihre Reservierung beginnt bald: {details}. Checken Sie bei Ihrer Ankunft am Platz ein.",
        "mail.checkin.subject": "Jetzt einchecken: Platz {seat}",
        "mail.checkin.body": "Der Check-in für Ihre Reservierung ist geöffnet: {details}.",
        "mail.no_show.subject": "Freigegeben: Platz {seat}",
        "mail.offer.subject": "Ein Platz ist für Sie reserviert: {seat}",
        "mail.offer.action": "Angebot annehmen: {link}",
        "mail.cancelled.subject": "Von der Bibliothek storniert: Platz {seat}",
        "mail.strike.subject": "Ein Verstoß wurde vermerkt",
        "mail.suspended.subject": "Ihr Buchungsrecht ist gesperrt",
        "mail.address.subject": "Bestätigen Sie Ihre E-Mail-Adresse",
        "mail.address.body":
            "Jemand, hoffentlich Sie, hat DL-SMS-E-Mails zum Konto {account} an diese Adresse angefordert. Falls Sie das nicht waren, ignorieren Sie diese E-Mail.",
        "mail.address.action": "Bestätigen Sie die Adresse innerhalb von 24 Stunden: {link}",

        "page.unsubscribe.title": "Abbestellen",
        "page.unsubscribe.ask": "Alle E-Mails zur Platzbuchung für dieses Konto abbestellen?",
        "page.unsubscribe.button": "Abbestellen",
        "page.unsubscribe.done":
            "Sie erhalten keine E-Mails zur Platzbuchung mehr. In der App können Sie sie wieder einschalten.",
        "page.address.done": "Ihre E-Mail-Adresse {address} ist bestätigt.",
        "page.link.invalid": "Dieser Link ist ungültig oder abgelaufen.",
    ]

    public static let chinese: [String: String] = [
        "time.range": "{day} {start}–{end}",
        "time.range_days": "{start} 至 {end}",

        "notice.cancelled_by_staff": "座位 {seat} 的预约 {reservation} 已被图书馆工作人员取消。",
        "notice.no_show": "座位 {seat} 的预约 {reservation} 已释放：宽限期内无人签到。",
        "notice.stay_ended": "您在座位 {seat} 的使用（预约 {reservation}）已结束。",
        "notice.offered": "座位 {seat}（{branch}，{area}）为您保留至 {until}。请接受候补 {entry} 以预约该座位。",
        "notice.offer_expired": "为您的候补 {entry} 保留的座位 {seat} 已过期，已转给下一位。",
        "notice.strike": "已记录一次违约（{strike}）。有效期至 {until}；{window} 天内累计 {threshold} 次将暂停预约 {days} 天。",
        "notice.suspended": "预约权限暂停至 {until}：{strikes}。",
        "notice.cancelled_by_library": "座位 {seat} 的预约 {reservation} 已被图书馆取消：{why}",
        "notice.closed_now": "您在座位 {seat} 的使用（预约 {reservation}）已结束：图书馆现已关闭：{why}",
        "notice.closes_at": "您在座位 {seat} 的使用（预约 {reservation}）将于 {at} 结束：图书馆届时关闭：{why}",
        "notice.extended": "图书馆工作人员已将座位 {seat} 的预约 {reservation} 延长至 {end}。",
        "notice.away_ended": "您未在 {at} 前返回座位 {seat}：预约 {reservation} 已结束，座位已释放。",
        "notice.waitlist_closed": "您的候补 {entry} 已取消：{place} 在 {start} 至 {end} 关闭：{why}",
        "notice.booked_by_staff": "图书馆工作人员已为您预约座位 {seat}，时间 {start} 至 {end}（预约 {reservation}）。",
        "notice.waitlist_cancelled": "您对座位 {seat} 的候补 {entry} 已被图书馆取消：{why}",
        "notice.moved": "图书馆工作人员已将预约 {reservation} 从座位 {from} 调至座位 {seat}：现为预约 {new}。",
        "notice.together": "{who} 为您和小组一起预约了座位 {seat}：预约 {reservation}。",

        "strike.no_show": "未到场：座位 {seat}，预约 {reservation}，{at}",
        "strike.late_cancel": "逾时取消：座位 {seat}，预约 {reservation}，{at}",

        "calendar.name": "图书馆座位：{name}",
        "calendar.summary": "座位 {seat}（{branch}）",
        "calendar.summary_bare": "座位 {seat}",
        "calendar.location": "{branch}，{area}，座位 {seat}",
        "calendar.location_bare": "座位 {seat}",
        "calendar.description": "预约 {reservation}：{status}",

        "mail.greeting": "{name}，您好：",
        "mail.signature": "图书馆座位预约系统（DL-SMS）",
        "mail.footer": "您收到这封邮件是因为您的座位预约。选择您要接收的邮件：{link}",
        "mail.unsubscribe": "退订所有此类邮件：{link}",
        "mail.details": "座位 {seat}（{place}），{when}",
        "mail.confirmed.subject": "预约成功：座位 {seat}，{when}",
        "mail.confirmed.body":
            "您的座位已预约：{details}。到达后请在座位签到；宽限期后仍未签到的座位将转给他人。附件中的日历条目可将其加入您的日历。",
        "mail.reminder.subject": "提醒：{time} 座位 {seat}",
        "mail.reminder.body": "您的预约即将开始：{details}。到达后请在座位签到。",
        "mail.checkin.subject": "现在可以签到：座位 {seat}",
        "mail.checkin.body": "您的预约已开放签到：{details}。",
        "mail.no_show.subject": "已释放：座位 {seat}",
        "mail.offer.subject": "为您保留了一个座位：{seat}",
        "mail.offer.action": "接受此座位：{link}",
        "mail.cancelled.subject": "图书馆已取消：座位 {seat}",
        "mail.strike.subject": "已记录一次违约",
        "mail.suspended.subject": "您的预约权限已暂停",
        "mail.address.subject": "请确认您的电子邮件地址",
        "mail.address.body": "有人（希望是您）请求将账户 {account} 的 DL-SMS 邮件发送到此地址。如果不是您本人操作，请忽略此邮件。",
        "mail.address.action": "请在 24 小时内确认此地址：{link}",

        "page.unsubscribe.title": "退订",
        "page.unsubscribe.ask": "停止向此账户发送所有座位预约邮件？",
        "page.unsubscribe.button": "退订",
        "page.unsubscribe.done": "您将不再收到座位预约邮件。您可以在应用中重新开启。",
        "page.address.done": "您的电子邮件地址 {address} 已确认。",
        "page.link.invalid": "此链接无效或已过期。",
    ]

    /// `template` with each `{name}` replaced by `values[name]` (left as is when absent).
    public static func fill(_ template: String, _ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { break }
            let name = String(rest[rest.index(after: open)..<close])
            out += values[name] ?? "{\(name)}"
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The placeholders of a template, in order.
    public static func placeholders(_ template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            names.append(String(rest[rest.index(after: open)..<close]))
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// The values of `text` if it was made from `template`: literal parts matched left to right,
    /// each placeholder taking the shortest text up to the next literal; the last literal must
    /// end the text (so a final placeholder takes the rest).
    static func match(_ text: String, template: String) -> [String: String]? {
        var values: [String: String] = [:]
        var rest = Substring(text)
        var parts = template.split(separator: "{", omittingEmptySubsequences: false)
        guard rest.hasPrefix(parts.removeFirst()) else { return nil }
        rest = rest.dropFirst(template.prefix { $0 != "{" }.count)
        for (i, part) in parts.enumerated() {
            guard let close = part.firstIndex(of: "}") else { return nil }
            let name = String(part[..<close])
            let literal = part[part.index(after: close)...]
            if i == parts.count - 1 {
                guard rest.hasSuffix(literal) else { return nil }
                values[name] = String(rest.dropLast(literal.count))
                return values
            }
            guard !literal.isEmpty, let found = rest.range(of: literal) else { return nil }
            values[name] = String(rest[..<found.lowerBound])
            rest = rest[found.upperBound...]
        }
        return rest.isEmpty ? values : nil
    }
}
