import DLSMSCore

/// The on-disk frame of one WAL record (format version 1), little-endian:
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 1 | format version (1) |
/// | 1 | 1 | record kind (``RecordCodec/Kind``, for tools) |
/// | 2 | 2 | reserved, 0 |
/// | 4 | 4 | payload length (≤ ``maxPayload``) |
/// | 8 | 8 | log sequence number (LSN), consecutive from 1 |
/// | 16 | 8 | time the record was appended, seconds since the epoch |
/// | 24 | 4 | checksum of the previous record (the hash chain; 0 before the first) |
/// | 28 | 4 | CRC-32C over bytes 0–27 and the payload |
/// | 32 | n | payload (``RecordCodec``) |
public struct WALFrame: Sendable, Hashable {
    public static let headerSize = 32
    public static let version: UInt8 = 1
    public static let maxPayload = 16 << 20

    public var kind: UInt8
    public var lsn: UInt64
    public var time: Int64
    public var previousChecksum: UInt32
    public var checksum: UInt32
    public var payload: [UInt8]

    public var size: Int { Self.headerSize + payload.count }

    /// The frame as it is on disk.
    public var bytes: [UInt8] {
        var w = ByteWriter()
        w.byte(Self.version)
        w.byte(kind)
        w.byte(0)
        w.byte(0)
        w.u32(UInt32(payload.count))
        w.u64(lsn)
        w.u64(UInt64(bitPattern: time))
        w.u32(previousChecksum)
        w.u32(checksum)
        return w.bytes + payload
    }

    /// Appends the frame of `record` to `out`, encoding straight into it (no buffer of its own: the
    /// WAL's hot path), and returns the frame's checksum.
    @discardableResult
    public static func append(
        _ record: JournalRecord, lsn: UInt64, time: Int64, previousChecksum: UInt32, to out: inout [UInt8]
    ) -> UInt32 {
        append(
            kind: RecordCodec.kind(of: record).rawValue, lsn: lsn, time: time, previousChecksum: previousChecksum,
            to: &out
        ) { RecordCodec.encode(record, into: &$0) }
    }

    /// Appends a frame of `kind` whose payload is `payload` as it is (the spool's records, which
    /// are no journal records), and returns the frame's checksum.
    @discardableResult
    public static func append(
        kind: UInt8, payload: [UInt8], lsn: UInt64, time: Int64, previousChecksum: UInt32, to out: inout [UInt8]
    ) -> UInt32 {
        append(kind: kind, lsn: lsn, time: time, previousChecksum: previousChecksum, to: &out) { $0.bytes(payload) }
    }

    /// Appends a frame whose payload `body` writes, then fills in its length and CRC-32C.
    private static func append(
        kind: UInt8, lsn: UInt64, time: Int64, previousChecksum: UInt32, to out: inout [UInt8],
        _ body: (inout ByteWriter) -> Void
    ) -> UInt32 {
        let start = out.count
        // The buffer moves into the writer and back (swaps, never a copy: a copy per frame made
        // appending n frames cost n² bytes of copying).
        var w = ByteWriter(capacity: 0)
        swap(&w.bytes, &out)
        w.byte(version)
        w.byte(kind)
        w.byte(0)
        w.byte(0)
        w.u32(0)  // length, filled in below
        w.u64(lsn)
        w.u64(UInt64(bitPattern: time))
        w.u32(previousChecksum)
        w.u32(0)  // checksum, filled in below
        body(&w)
        swap(&w.bytes, &out)
        let length = UInt32(out.count - start - headerSize)
        return out.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: length.littleEndian, toByteOffset: start + 4, as: UInt32.self)
            let header = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[start..<(start + 28)]))
            let crc = CRC32C.checksum(
                UnsafeRawBufferPointer(rebasing: raw[(start + headerSize)...]), continuing: header)
            raw.storeBytes(of: crc.littleEndian, toByteOffset: start + 28, as: UInt32.self)
            return crc
        }
    }

    public static func encode(_ record: JournalRecord, lsn: UInt64, time: Int64, previousChecksum: UInt32) -> (
        bytes: [UInt8], checksum: UInt32
    ) {
        var out: [UInt8] = []
        let crc = append(record, lsn: lsn, time: time, previousChecksum: previousChecksum, to: &out)
        return (out, crc)
    }

    public enum ParseResult {
        case frame(WALFrame)
        /// Fewer bytes than a whole frame: the end of the file cuts it.
        case incomplete
        /// A frame is there but its header or checksum is wrong.
        case invalid(String)
    }

    /// Parses the frame at `offset` of `bytes`.
    public static func parse(_ bytes: UnsafeRawBufferPointer, at offset: Int) -> ParseResult {
        guard bytes.count - offset >= headerSize else { return .incomplete }
        var r = ByteReader(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
        do throws(RecordCodec.DecodingError) {
            let v = try r.byte()
            let kind = try r.byte()
            let reserved = UInt16(try r.byte()) | UInt16(try r.byte()) << 8
            let length = Int(try r.u32())
            let lsn = try r.u64()
            let time = Int64(bitPattern: try r.u64())
            let previous = try r.u32()
            let stored = try r.u32()
            guard v == version else { return .invalid("unknown format version \(v)") }
            guard reserved == 0, length <= maxPayload else { return .invalid("malformed header") }
            guard r.remaining >= length else {
                // A plausible header whose payload runs past the end: torn, unless the checksum of
                // what is there cannot be right anyway (then it is not distinguishable; call it torn).
                return .incomplete
            }
            let headerCRC = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + 28)]))
            let payload = try r.bytes(length)
            guard CRC32C.checksum(payload, continuing: headerCRC) == stored else {
                return .invalid("checksum mismatch")
            }
            return .frame(
                WALFrame(
                    kind: kind, lsn: lsn, time: time, previousChecksum: previous, checksum: stored,
                    payload: Array(payload)))
        } catch {
            return .incomplete
        }
    }

    public func record() throws(RecordCodec.DecodingError) -> JournalRecord { try RecordCodec.decode(payload) }
}

/// What a WAL segment holds: its valid frames, and what stops the scan if anything does.
public struct SegmentScan: Sendable {
    public var frames: [WALFrame] = []
    /// The first bad spot, if any: its offset and what is wrong.
    public var problem: (offset: Int, reason: String)?
    /// A valid frame was found after the problem: corruption in the middle, not a torn tail.
    public var validAfterProblem = false

    /// Reads every frame of `bytes`, checking checksums, consecutive LSNs and the hash chain.
    /// `expect` is the LSN and previous checksum the first frame must carry, when known.
    public static func scan(_ bytes: [UInt8], expect: (lsn: UInt64, previous: UInt32)? = nil) -> SegmentScan {
        var result = SegmentScan()
        bytes.withUnsafeBytes { raw in
            var offset = 0
            var next = expect
            while offset < raw.count {
                switch WALFrame.parse(raw, at: offset) {
                case .frame(let f):
                    if let n = next, f.lsn != n.lsn || f.previousChecksum != n.previous {
                        result.problem = (
                            offset,
                            f.lsn != n.lsn
                                ? "expected LSN \(n.lsn), found \(f.lsn)" : "hash chain broken at LSN \(f.lsn)"
                        )
                    } else {
                        result.frames.append(f)
                        offset += f.size
                        next = (f.lsn + 1, f.checksum)
                        continue
                    }
                case .incomplete:
                    result.problem = (offset, "incomplete record")
                case .invalid(let why):
                    result.problem = (offset, why)
                }
                break
            }
            if let p = result.problem {
                // Is anything valid further on? Then this is corruption, not a torn write.
                var o = p.offset + 1
                while o + WALFrame.headerSize <= raw.count {
                    if case .frame = WALFrame.parse(raw, at: o) {
                        result.validAfterProblem = true
                        break
                    }
                    o += 1
                }
            }
        }
        return result
    }
}
