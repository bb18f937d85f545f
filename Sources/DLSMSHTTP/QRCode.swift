import DLSMSApp

/// A QR code (ISO/IEC 18004) of bytes: byte mode, error correction level M (15 %), versions 1–10
/// (up to 213 bytes: a seat's check-in URL needs about 80). Small on purpose; its output is
/// compared module by module with an independent encoder (python-qrcode) and decoded by zbar in
/// the tests.
///
/// The layout follows the standard: finder, separator, timing and alignment patterns, the dark
/// module, format and version information; data and Reed–Solomon codewords interleaved by block
/// and placed in the zigzag order; the mask with the lowest penalty (or the one asked for).
public struct QRCode: Sendable, Hashable {
    public let version: Int
    public let mask: Int
    /// `size × size` modules, row by row; `true` is dark.
    public let modules: [Bool]
    public var size: Int { 17 + 4 * version }

    public enum Failure: Error, Sendable, Hashable { case tooLong(Int) }

    /// Per version (index 0 = version 1) at level M: error correction codewords per block, and the
    /// blocks as (count, data codewords).
    package static let blocks: [(ec: Int, groups: [(count: Int, data: Int)])] = [
        (10, [(1, 16)]), (16, [(1, 28)]), (26, [(1, 44)]), (18, [(2, 32)]), (24, [(2, 43)]),
        (16, [(4, 27)]), (18, [(4, 31)]), (22, [(2, 38), (2, 39)]), (22, [(3, 36), (2, 37)]),
        (26, [(4, 43), (1, 44)]),
    ]
    package static let alignment: [[Int]] = [
        [], [6, 18], [6, 22], [6, 26], [6, 30], [6, 34], [6, 22, 38], [6, 24, 42], [6, 26, 46], [6, 28, 50],
    ]
    public static let maxBytes = 213

    public subscript(row: Int, column: Int) -> Bool { modules[row * size + column] }

    /// Encodes `data` in the smallest version that holds it; `mask` 0–7 forces a mask.
    public init(_ data: [UInt8], mask forced: Int? = nil) throws(Failure) {
        guard
            let version = (1...10).first(where: { v in
                let capacity = Self.blocks[v - 1].groups.reduce(0) { $0 + $1.count * $1.data } * 8
                return 4 + (v < 10 ? 8 : 16) + 8 * data.count <= capacity
            })
        else { throw .tooLong(data.count) }
        self.version = version
        let codewords = Self.codewords(data, version: version)
        var grid = Grid(version: version)
        grid.place(codewords)
        var best: (penalty: Int, mask: Int, modules: [Bool])?
        for m in forced.map({ [$0] }) ?? Array(0..<8) {
            var candidate = grid
            candidate.apply(mask: m)
            candidate.drawFormat(mask: m)
            let p = forced == nil ? candidate.penalty() : 0
            if best == nil || p < best!.penalty { best = (p, m, candidate.dark) }
        }
        mask = best!.mask
        modules = best!.modules
    }

    /// Data codewords (mode, count, bytes, terminator, padding), split into blocks, each with its
    /// error correction, interleaved.
    package static func codewords(_ data: [UInt8], version: Int) -> [UInt8] {
        let spec = blocks[version - 1]
        let capacity = spec.groups.reduce(0) { $0 + $1.count * $1.data }
        var bits: [Bool] = []
        func put(_ value: Int, _ n: Int) {
            for i in stride(from: n - 1, through: 0, by: -1) { bits.append((value >> i) & 1 == 1) }
        }
        put(0b0100, 4)
        put(data.count, version < 10 ? 8 : 16)
        for b in data { put(Int(b), 8) }
        put(0, min(4, capacity * 8 - bits.count))
        while bits.count % 8 != 0 { bits.append(false) }
        var bytes: [UInt8] = stride(from: 0, to: bits.count, by: 8).map { i in
            (0..<8).reduce(UInt8(0)) { $0 << 1 | (bits[i + $1] ? 1 : 0) }
        }
        var pad: UInt8 = 0xEC
        while bytes.count < capacity {
            bytes.append(pad)
            pad = pad == 0xEC ? 0x11 : 0xEC
        }
        var dataBlocks: [[UInt8]] = []
        var offset = 0
        for g in spec.groups {
            for _ in 0..<g.count {
                dataBlocks.append(Array(bytes[offset..<(offset + g.data)]))
                offset += g.data
            }
        }
        let generator = ReedSolomon.generator(degree: spec.ec)
        let ecBlocks = dataBlocks.map { ReedSolomon.remainder($0, generator) }
        var out: [UInt8] = []
        for i in 0..<(dataBlocks.map(\.count).max() ?? 0) {
            for b in dataBlocks where i < b.count { out.append(b[i]) }
        }
        for i in 0..<spec.ec {
            for b in ecBlocks { out.append(b[i]) }
        }
        return out
    }

    /// The module grid while it is drawn: which modules are dark, and which belong to patterns.
    package struct Grid {
        let version: Int
        let size: Int
        var dark: [Bool]
        var function: [Bool]

        init(version: Int) {
            self.version = version
            size = 17 + 4 * version
            dark = Array(repeating: false, count: size * size)
            function = Array(repeating: false, count: size * size)
            for i in 0..<size {  // timing
                set(6, i, i % 2 == 0)
                set(i, 6, i % 2 == 0)
            }
            for (x, y) in [(3, 3), (size - 4, 3), (3, size - 4)] {  // finders and separators
                for dy in -4...4 {
                    for dx in -4...4 {
                        let (xx, yy) = (x + dx, y + dy)
                        guard xx >= 0, xx < size, yy >= 0, yy < size else { continue }
                        let d = max(abs(dx), abs(dy))
                        set(xx, yy, d != 2 && d != 4)
                    }
                }
            }
            let centers = QRCode.alignment[version - 1]
            for (i, cy) in centers.enumerated() {
                for (j, cx) in centers.enumerated() {
                    let corner =
                        (i == 0 && j == 0) || (i == 0 && j == centers.count - 1)
                        || (i == centers.count - 1 && j == 0)
                    guard !corner else { continue }
                    for dy in -2...2 {
                        for dx in -2...2 { set(cx + dx, cy + dy, max(abs(dx), abs(dy)) != 1) }
                    }
                }
            }
            drawFormat(mask: 0)  // reserves the format areas (drawn again once the mask is known)
            if version >= 7 {
                var rem = version
                for _ in 0..<12 { rem = (rem << 1) ^ ((rem >> 11) * 0x1F25) }
                let bits = version << 12 | rem
                for i in 0..<18 {
                    let bit = (bits >> i) & 1 == 1
                    let a = size - 11 + i % 3
                    let b = i / 3
                    set(a, b, bit)
                    set(b, a, bit)
                }
            }
        }

        /// Column `x`, row `y`: a pattern module.
        mutating func set(_ x: Int, _ y: Int, _ isDark: Bool) {
            dark[y * size + x] = isDark
            function[y * size + x] = true
        }

        mutating func drawFormat(mask: Int) {
            let data = 0b00 << 3 | mask  // level M is 00
            var rem = data
            for _ in 0..<10 { rem = (rem << 1) ^ ((rem >> 9) * 0x537) }
            let bits = (data << 10 | rem) ^ 0x5412
            func bit(_ i: Int) -> Bool { (bits >> i) & 1 == 1 }
            for i in 0..<6 { set(8, i, bit(i)) }
            set(8, 7, bit(6))
            set(8, 8, bit(7))
            set(7, 8, bit(8))
            for i in 9..<15 { set(14 - i, 8, bit(i)) }
            for i in 0..<8 { set(size - 1 - i, 8, bit(i)) }
            for i in 8..<15 { set(8, size - 15 + i, bit(i)) }
            set(8, size - 8, true)  // the dark module
        }

        /// The codewords' bits in the zigzag order, two columns at a time from the right.
        mutating func place(_ codewords: [UInt8]) {
            var i = 0
            var right = size - 1
            while right >= 1 {
                if right == 6 { right = 5 }
                for vert in 0..<size {
                    for j in 0..<2 {
                        let x = right - j
                        let upward = (right + 1) & 2 == 0
                        let y = upward ? size - 1 - vert : vert
                        guard !function[y * size + x], i < codewords.count * 8 else { continue }
                        dark[y * size + x] = (codewords[i >> 3] >> (7 - (i & 7))) & 1 == 1
                        i += 1
                    }
                }
                right -= 2
            }
        }

        mutating func apply(mask: Int) {
            for y in 0..<size {
                for x in 0..<size where !function[y * size + x] {
                    let flip: Bool
                    switch mask {
                    case 0: flip = (x + y) % 2 == 0
                    case 1: flip = y % 2 == 0
                    case 2: flip = x % 3 == 0
                    case 3: flip = (x + y) % 3 == 0
                    case 4: flip = (x / 3 + y / 2) % 2 == 0
                    case 5: flip = x * y % 2 + x * y % 3 == 0
                    case 6: flip = (x * y % 2 + x * y % 3) % 2 == 0
                    default: flip = ((x + y) % 2 + x * y % 3) % 2 == 0
                    }
                    if flip { dark[y * size + x].toggle() }
                }
            }
        }

        /// The standard's four penalty rules: runs, 2×2 blocks, finder-like patterns, balance.
        func penalty() -> Int {
            var total = 0
            func at(_ x: Int, _ y: Int, _ rows: Bool) -> Bool { rows ? dark[y * size + x] : dark[x * size + y] }
            let finderLike: [Bool] = [true, false, true, true, true, false, true, false, false, false, false]
            for rows in [true, false] {
                for y in 0..<size {
                    var run = 1
                    for x in 1..<size {
                        if at(x, y, rows) == at(x - 1, y, rows) {
                            run += 1
                        } else {
                            if run >= 5 { total += run - 2 }
                            run = 1
                        }
                    }
                    if run >= 5 { total += run - 2 }
                    for x in 0...(size - finderLike.count) {
                        let line = (0..<finderLike.count).map { at(x + $0, y, rows) }
                        if line == finderLike || line == finderLike.reversed() { total += 40 }
                    }
                }
            }
            for y in 0..<(size - 1) {
                for x in 0..<(size - 1) {
                    let c = dark[y * size + x]
                    if c == dark[y * size + x + 1] && c == dark[(y + 1) * size + x] && c == dark[(y + 1) * size + x + 1]
                    {
                        total += 3
                    }
                }
            }
            let darkCount = dark.reduce(0) { $0 + ($1 ? 1 : 0) }
            let k = (abs(darkCount * 20 - size * size * 10) + size * size - 1) / (size * size) - 1
            return total + max(0, k) * 10
        }
    }

    /// The code as SVG: one path of dark modules, with a quiet zone of four modules, `scale`
    /// user units per module.
    public func svg(scale: Int = 4, title: String? = nil) -> String {
        let full = (size + 8) * scale
        var path = ""
        for y in 0..<size {
            var x = 0
            while x < size {
                guard self[y, x] else {
                    x += 1
                    continue
                }
                var run = 1
                while x + run < size && self[y, x + run] { run += 1 }
                path += "M\((x + 4) * scale) \((y + 4) * scale)h\(run * scale)v\(scale)h-\(run * scale)z"
                x += run
            }
        }
        return svgElement(width: full, height: full, title: title) {
            "<rect width=\"\(full)\" height=\"\(full)\" fill=\"#fff\"/><path d=\"\(path)\" fill=\"#000\" shape-rendering=\"crispEdges\"/>"
        }
    }
}

/// An `<svg>` element with an optional title (escaped), for QR codes and sheets.
public func svgElement(width: Int, height: Int, unit: String = "", title: String?, _ body: () -> String) -> String {
    var out =
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" width=\"\(width)\(unit)\" height=\"\(height)\(unit)\""
    out += title == nil ? ">" : " role=\"img\" aria-label=\"\(xmlEscape(title!))\"><title>\(xmlEscape(title!))</title>"
    return out + body() + "</svg>"
}

/// Reed–Solomon over GF(256) with the QR polynomial x⁸ + x⁴ + x³ + x² + 1.
package enum ReedSolomon {
    package static let (exp, log): ([UInt8], [Int]) = {
        var exp = [UInt8](repeating: 0, count: 512)
        var log = [Int](repeating: 0, count: 256)
        var x = 1
        for i in 0..<255 {
            exp[i] = UInt8(x)
            log[x] = i
            x <<= 1
            if x & 0x100 != 0 { x ^= 0x11D }
        }
        for i in 255..<512 { exp[i] = exp[i - 255] }
        return (exp, log)
    }()

    package static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        a == 0 || b == 0 ? 0 : exp[log[Int(a)] + log[Int(b)]]
    }

    /// The coefficients of ∏ (x − αⁱ), i < degree, highest first without the leading 1.
    package static func generator(degree: Int) -> [UInt8] {
        var poly: [UInt8] = [1]
        for i in 0..<degree {
            var next = [UInt8](repeating: 0, count: poly.count + 1)
            for (j, c) in poly.enumerated() {
                next[j] ^= c
                next[j + 1] ^= multiply(c, exp[i])
            }
            poly = next
        }
        return Array(poly.dropFirst())
    }

    /// The remainder of data·x^degree divided by the generator: the error correction codewords.
    package static func remainder(_ data: [UInt8], _ generator: [UInt8]) -> [UInt8] {
        var rem = [UInt8](repeating: 0, count: generator.count)
        for b in data {
            let factor = b ^ rem[0]
            rem.removeFirst()
            rem.append(0)
            for (i, g) in generator.enumerated() { rem[i] ^= multiply(g, factor) }
        }
        return rem
    }
}
