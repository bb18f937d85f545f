import DLSMSCore

/// A minimal JSON writer into UTF-8 bytes: explicit `null`s (the contract shows them), no
/// intermediate objects; strings are copied in runs and escaped only where JSON requires it.
public struct JSONWriter {
    public private(set) var bytes: [UInt8] = []
    private var needsComma = false

    public init() { bytes.reserveCapacity(512) }

    public var text: String { String(decoding: bytes, as: UTF8.self) }

    public mutating func object(_ body: (inout JSONWriter) -> Void) {
        bytes.append(UInt8(ascii: "{"))
        needsComma = false
        body(&self)
        bytes.append(UInt8(ascii: "}"))
        needsComma = true
    }

    public mutating func array<S: Sequence>(_ items: S, _ body: (inout JSONWriter, S.Element) -> Void) {
        bytes.append(UInt8(ascii: "["))
        var first = true
        for item in items {
            if !first { bytes.append(UInt8(ascii: ",")) }
            first = false
            needsComma = false
            body(&self, item)
        }
        bytes.append(UInt8(ascii: "]"))
        needsComma = true
    }

    private mutating func key(_ k: StaticString) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        bytes.append(UInt8(ascii: "\""))
        k.withUTF8Buffer { bytes.append(contentsOf: $0) }
        bytes.append(UInt8(ascii: "\""))
        bytes.append(UInt8(ascii: ":"))
        needsComma = false
    }

    private mutating func raw(_ s: StaticString) { s.withUTF8Buffer { bytes.append(contentsOf: $0) } }

    public mutating func field(_ k: StaticString, _ v: String?) {
        key(k)
        if let v { appendString(v) } else { raw("null") }
        needsComma = true
    }

    public mutating func field<I: BinaryInteger>(_ k: StaticString, _ v: I?) {
        key(k)
        if let v { appendInteger(Int64(v)) } else { raw("null") }
        needsComma = true
    }

    /// An integer member whose name is known only at run time (a table of rules).
    package mutating func field(name k: String, _ v: Int) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        appendString(k)
        bytes.append(UInt8(ascii: ":"))
        appendInteger(Int64(v))
        needsComma = true
    }

    /// A Boolean member whose name is known only at run time.
    package mutating func field(name k: String, _ v: Bool) {
        if needsComma { bytes.append(UInt8(ascii: ",")) }
        appendString(k)
        bytes.append(UInt8(ascii: ":"))
        raw(v ? "true" : "false")
        needsComma = true
    }

    /// A number given as text people read (e.g. "12.50"); the caller guarantees the form.
    package mutating func field(_ k: StaticString, number text: String) {
        key(k)
        bytes.append(contentsOf: text.utf8)
        needsComma = true
    }

    /// A member whose value is JSON text made earlier (an audit entry's before/after), or null
    /// when it is empty.
    package mutating func field(_ k: StaticString, json text: String) {
        key(k)
        if text.isEmpty { raw("null") } else { bytes.append(contentsOf: text.utf8) }
        needsComma = true
    }

    public mutating func field(_ k: StaticString, _ v: Bool) {
        key(k)
        raw(v ? "true" : "false")
        needsComma = true
    }

    public mutating func time(_ k: StaticString, _ t: Timestamp?) {
        key(k)
        if let t {
            bytes.append(UInt8(ascii: "\""))
            RFC3339.format(t, into: &bytes)
            bytes.append(UInt8(ascii: "\""))
        } else {
            raw("null")
        }
        needsComma = true
    }

    public mutating func field<S: Sequence>(
        _ k: StaticString, array items: S, _ body: (inout JSONWriter, S.Element) -> Void
    ) {
        key(k)
        array(items, body)
    }

    public mutating func field(_ k: StaticString, object body: (inout JSONWriter) -> Void) {
        key(k)
        object(body)
    }

    package mutating func reserveCapacity(_ n: Int) { bytes.reserveCapacity(n) }

    /// Bytes the caller has made valid JSON in place (separators included); the next member or
    /// element is preceded by a comma.
    package mutating func verbatim(_ rendered: [UInt8]) {
        bytes.append(contentsOf: rendered)
        needsComma = true
    }

    package mutating func verbatim(_ s: StaticString) {
        raw(s)
        needsComma = true
    }

    /// A string element of an ``array(_:_:)`` (the array writes the separators).
    public mutating func value(_ s: String) {
        appendString(s)
        needsComma = true
    }

    /// An integer element of an ``array(_:_:)``.
    public mutating func value<I: BinaryInteger>(_ v: I) {
        appendInteger(Int64(v))
        needsComma = true
    }

    private mutating func appendInteger(_ v: Int64) {
        if v == 0 {
            bytes.append(UInt8(ascii: "0"))
            return
        }
        var digits:
            (
                UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8,
                UInt8, UInt8, UInt8, UInt8, UInt8
            ) =
                (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = v.magnitude
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            while n > 0 {
                d[19 - count] = UInt8(48 + n % 10)
                n /= 10
                count += 1
            }
            if v < 0 { bytes.append(UInt8(ascii: "-")) }
            bytes.append(contentsOf: d[(20 - count)...])
        }
    }

    private mutating func appendString(_ s: String) {
        bytes.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { utf8 in
            var runStart = 0
            for i in utf8.indices {
                let b = utf8[i]
                guard b < 0x20 || b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") else { continue }
                bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart..<i]))
                runStart = i + 1
                switch b {
                case UInt8(ascii: "\""): raw("\\\"")
                case UInt8(ascii: "\\"): raw("\\\\")
                case UInt8(ascii: "\n"): raw("\\n")
                case UInt8(ascii: "\r"): raw("\\r")
                case UInt8(ascii: "\t"): raw("\\t")
                default:
                    let hex: [UInt8] = Array("0123456789abcdef".utf8)
                    bytes.append(contentsOf: [
                        UInt8(ascii: "\\"), UInt8(ascii: "u"), 48, 48, hex[Int(b >> 4)], hex[Int(b & 15)],
                    ])
                }
            }
            bytes.append(contentsOf: UnsafeBufferPointer(rebasing: utf8[runStart...]))
        }
        bytes.append(UInt8(ascii: "\""))
    }
}
