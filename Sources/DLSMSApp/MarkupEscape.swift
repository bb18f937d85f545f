/// Text for XML and HTML content and attributes (the QR codes' SVG, the emails' HTML, the
/// pages behind email links): the five markup characters escaped, control characters dropped.
public func xmlEscape(_ s: String) -> String {
    var out = ""
    for ch in s {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&quot;"
        case "'": out += "&apos;"
        default:
            if ch.unicodeScalars.allSatisfy({ $0.value < 0x20 && $0.value != 0x09 && $0.value != 0x0A }) { continue }
            out.append(ch)
        }
    }
    return out
}
