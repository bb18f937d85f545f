/// A reader for the simplest JSON objects only — one level, keys and string values of plain
/// ASCII without escapes, integer values — that gives up (nil) on anything else, so that the
/// caller decodes those with `JSONDecoder`. It serves the booking body, the hot path,
/// where `JSONDecoder` took about 5% of a booking's CPU; every answer it gives is the one
/// `JSONDecoder` would give.
package enum FlatJSON {
    package enum Value: Equatable {
        case integer(Int64)
        case string(String)
    }

    /// The members of `bytes` in order, or nil when it is not such an object (or repeats a key).
    package static func members(_ bytes: UnsafeRawBufferPointer) -> [(key: String, value: Value)]? {
        var reader = Reader(bytes: bytes)
        return reader.object()
    }
}

/// A cursor over the bytes of one ``FlatJSON`` object.
private struct Reader {
    let bytes: UnsafeRawBufferPointer
    var i = 0
    var n: Int { bytes.count }

    /// The whole input as one flat object, or nil.
    mutating func object() -> [(key: String, value: FlatJSON.Value)]? {
        var members: [(key: String, value: FlatJSON.Value)] = []
        skipSpace()
        guard i < n, bytes[i] == 0x7B else { return nil }
        i += 1
        skipSpace()
        if i < n, bytes[i] == 0x7D {
            i += 1
        } else {
            while true {
                guard i < n, bytes[i] == 0x22 else { return nil }
                i += 1
                guard let key = plainString() else { return nil }
                skipSpace()
                guard i < n, bytes[i] == 0x3A else { return nil }
                i += 1
                skipSpace()
                guard i < n, let value = value() else { return nil }
                guard !members.contains(where: { $0.key == key }) else { return nil }
                members.append((key, value))
                skipSpace()
                guard i < n else { return nil }
                if bytes[i] == 0x2C {
                    i += 1
                    skipSpace()
                    continue
                }
                guard bytes[i] == 0x7D else { return nil }
                i += 1
                break
            }
        }
        skipSpace()
        return i == n ? members : nil
    }

    /// A string or an integer, at a byte that is there.
    mutating func value() -> FlatJSON.Value? {
        if bytes[i] == 0x22 {
            i += 1
            guard let s = plainString() else { return nil }
            return .string(s)
        }
        guard let v = integer() else { return nil }
        return .integer(v)
    }

    mutating func skipSpace() {
        while i < n, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    /// A string of printable ASCII without `\`, after its opening quote.
    mutating func plainString() -> String? {
        let start = i
        while i < n {
            let b = bytes[i]
            if b == 0x22 {
                let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                i += 1
                return text
            }
            guard b >= 0x20, b < 0x7F, b != 0x5C else { return nil }
            i += 1
        }
        return nil
    }

    /// `-?(0|[1-9][0-9]*)` of at most 18 digits, ended by a delimiter.
    mutating func integer() -> Int64? {
        var negative = false
        if bytes[i] == 0x2D {
            negative = true
            i += 1
        }
        let start = i
        var value: Int64 = 0
        while i < n, bytes[i] >= 0x30, bytes[i] <= 0x39 {
            // Longer numbers go to JSONDecoder (before the 19th digit could overflow).
            if i - start == 18 { return nil }
            value = value * 10 + Int64(bytes[i] - 0x30)
            i += 1
        }
        let digits = i - start
        guard digits > 0, !(digits > 1 && bytes[start] == 0x30) else { return nil }
        // A fraction or an exponent (or any other byte) goes to JSONDecoder.
        guard i == n || [0x20, 0x0A, 0x0D, 0x09, 0x2C, 0x7D].contains(bytes[i]) else { return nil }
        return negative ? -value : value
    }
}
