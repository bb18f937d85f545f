import DLSMSCore

/// A snapshot file (format version 1): a fixed header, then an LZ4 frame whose content is the
/// state as a sequence of records (`uvarint length, RecordCodec payload`), in the order branches,
/// seats, users, reservations, waitlist entries, notifications.
///
/// | offset | size | field |
/// | --- | --- | --- |
/// | 0 | 8 | magic `DLSMSNAP` |
/// | 8 | 4 | format version (1) |
/// | 12 | 4 | header size (112) |
/// | 16 | 8 | covered LSN: every WAL record up to it is in the snapshot |
/// | 24 | 4 | checksum of the record at the covered LSN (the WAL chain continues from it) |
/// | 28 | 4 | reserved, 0 |
/// | 32 | 8 | creation time, seconds since the epoch |
/// | 40 | 48 | counts: branches, seats, users, reservations, waitlist entries, notifications (8 bytes each) |
/// | 88 | 8 | content size (uncompressed) |
/// | 96 | 8 | body size (compressed) |
/// | 104 | 4 | CRC-32C of the body |
/// | 108 | 4 | CRC-32C of bytes 0–107 |
/// | 112 | n | body: LZ4 frame (with its own content checksum) |
public struct SnapshotHeader: Sendable, Hashable {
    public static let magic: [UInt8] = Array("DLSMSNAP".utf8)
    public static let version: UInt32 = 1
    public static let size = 112

    public struct Counts: Sendable, Hashable {
        public var branches = 0
        public var seats = 0
        public var users = 0
        public var reservations = 0
        public var waitlist = 0
        public var notifications = 0

        public init() {}

        mutating func count(_ record: JournalRecord) {
            switch record {
            case .branchDefined: branches += 1
            case .seatDefined: seats += 1
            case .userCreated, .userChanged: users += 1
            case .reservationCreated, .reservationChanged: reservations += 1
            case .waitlistChanged: waitlist += 1
            case .notificationCreated: notifications += 1
            case .together(let parts): for part in parts { count(part) }
            case .idFloor, .reservationsArchived, .webhookEndpoint, .webhookEvent, .epoch, .sessionRevoked,
                .groupPolicy, .groupMembership, .strike,
                .suspensionLifted, .audit, .reservationsAnonymised, .accountErased, .mailQueued, .mailSettled:
                break
            }
        }

        var all: [Int] { [branches, seats, users, reservations, waitlist, notifications] }
    }

    public var coveredLSN: UInt64
    public var chainChecksum: UInt32
    public var createdAt: Timestamp
    public var counts: Counts
    public var contentSize: Int
    public var bodySize: Int
    public var bodyChecksum: UInt32
}

public enum SnapshotError: Error, Sendable, CustomStringConvertible {
    case damaged(String)

    public var description: String {
        switch self {
        case .damaged(let why): return why
        }
    }
}

public enum SnapshotFile {
    /// The file name of the snapshot covering `lsn`.
    public static func name(coveredLSN lsn: UInt64) -> String {
        let digits = String(lsn)
        return "snapshot-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".dlsnap"
    }

    public static func coveredLSN(ofName name: String) -> UInt64? {
        guard name.hasPrefix("snapshot-"), name.hasSuffix(".dlsnap") else { return nil }
        return UInt64(name.dropFirst(9).dropLast(7))
    }

    /// Encodes a state given as records into the bytes of a snapshot file.
    public static func encode(
        _ records: some Sequence<JournalRecord>, coveredLSN: UInt64, chainChecksum: UInt32, createdAt: Timestamp,
        sizeHint: Int = 1 << 20
    ) throws(SnapshotError) -> (bytes: [UInt8], header: SnapshotHeader) {
        var content = ByteWriter(capacity: sizeHint)
        var scratch = ByteWriter(capacity: 256)
        var counts = SnapshotHeader.Counts()
        for record in records {
            scratch.bytes.removeAll(keepingCapacity: true)
            RecordCodec.encode(record, into: &scratch)
            content.uvarint(UInt64(scratch.bytes.count))
            content.bytes.append(contentsOf: scratch.bytes)
            counts.count(record)
        }
        let body: [UInt8]
        do {
            body = try LZ4.compress(content.bytes)
        } catch {
            throw .damaged("compression failed: \(error)")
        }
        let header = SnapshotHeader(
            coveredLSN: coveredLSN, chainChecksum: chainChecksum, createdAt: createdAt, counts: counts,
            contentSize: content.bytes.count, bodySize: body.count, bodyChecksum: CRC32C.checksum(body))
        var out = headerBytes(header)
        out.reserveCapacity(SnapshotHeader.size + body.count)
        out.append(contentsOf: body)
        return (out, header)
    }

    static func headerBytes(_ h: SnapshotHeader) -> [UInt8] {
        var w = ByteWriter(capacity: SnapshotHeader.size)
        w.bytes.append(contentsOf: SnapshotHeader.magic)
        w.u32(SnapshotHeader.version)
        w.u32(UInt32(SnapshotHeader.size))
        w.u64(h.coveredLSN)
        w.u32(h.chainChecksum)
        w.u32(0)
        w.u64(UInt64(bitPattern: h.createdAt))
        for c in h.counts.all { w.u64(UInt64(c)) }
        w.u64(UInt64(h.contentSize))
        w.u64(UInt64(h.bodySize))
        w.u32(h.bodyChecksum)
        w.u32(CRC32C.checksum(w.bytes))
        return w.bytes
    }

    /// Reads and checks the header only.
    public static func header(_ bytes: [UInt8]) throws(SnapshotError) -> SnapshotHeader {
        guard bytes.count >= SnapshotHeader.size else {
            throw .damaged("file shorter than a header (\(bytes.count) bytes)")
        }
        guard Array(bytes[0..<8]) == SnapshotHeader.magic else { throw .damaged("not a snapshot (bad magic)") }
        let result: Result<SnapshotHeader, SnapshotError> = bytes.withUnsafeBytes { raw in
            var r = ByteReader(UnsafeRawBufferPointer(rebasing: raw[8..<SnapshotHeader.size]))
            do throws(RecordCodec.DecodingError) {
                let version = try r.u32()
                guard version == SnapshotHeader.version else {
                    return .failure(.damaged("unknown format version \(version)"))
                }
                guard try r.u32() == UInt32(SnapshotHeader.size) else {
                    return .failure(.damaged("unexpected header size"))
                }
                let covered = try r.u64()
                let chain = try r.u32()
                _ = try r.u32()
                let created = Int64(bitPattern: try r.u64())
                var counts = SnapshotHeader.Counts()
                counts.branches = Int(try r.u64())
                counts.seats = Int(try r.u64())
                counts.users = Int(try r.u64())
                counts.reservations = Int(try r.u64())
                counts.waitlist = Int(try r.u64())
                counts.notifications = Int(try r.u64())
                let contentSize = try r.u64()
                let bodySize = try r.u64()
                let bodyCRC = try r.u32()
                let headerCRC = try r.u32()
                guard CRC32C.checksum(UnsafeRawBufferPointer(rebasing: raw[0..<108])) == headerCRC else {
                    return .failure(.damaged("header checksum mismatch"))
                }
                guard contentSize < 1 << 40, bodySize < 1 << 40 else { return .failure(.damaged("sizes out of range")) }
                return .success(
                    SnapshotHeader(
                        coveredLSN: covered, chainChecksum: chain, createdAt: created, counts: counts,
                        contentSize: Int(contentSize), bodySize: Int(bodySize), bodyChecksum: bodyCRC))
            } catch {
                return .failure(.damaged("header: \(error.reason)"))
            }
        }
        return try result.get()
    }

    /// Checks every checksum and decodes the state. Throws ``SnapshotError/damaged(_:)`` naming what is wrong.
    public static func decode(_ bytes: [UInt8]) throws(SnapshotError) -> (
        header: SnapshotHeader, records: [JournalRecord]
    ) {
        let h = try header(bytes)
        guard bytes.count == SnapshotHeader.size + h.bodySize else {
            throw .damaged("body is \(bytes.count - SnapshotHeader.size) bytes, header says \(h.bodySize)")
        }
        let content: [UInt8]
        do throws(LZ4.Failure) {
            content = try bytes.withBytes { raw throws(LZ4.Failure) in
                let body = UnsafeRawBufferPointer(rebasing: raw[SnapshotHeader.size...])
                guard CRC32C.checksum(body) == h.bodyChecksum else {
                    throw LZ4.Failure(description: "body checksum mismatch")
                }
                return try LZ4.decompress(body, expectedSize: h.contentSize)
            }
        } catch {
            throw .damaged(error.description)
        }
        var records: [JournalRecord] = []
        records.reserveCapacity(h.counts.all.reduce(0, +))
        var counts = SnapshotHeader.Counts()
        let failure: String? = content.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            while !r.isAtEnd {
                do throws(RecordCodec.DecodingError) {
                    let n = try r.count(limit: WALFrame.maxPayload)
                    var sub = ByteReader(try r.bytes(n))
                    let record = try RecordCodec.decode(from: &sub)
                    guard sub.isAtEnd else { return "record at content offset \(r.offset - n) has trailing bytes" }
                    counts.count(record)
                    records.append(record)
                } catch {
                    return "record at content offset \(r.offset): \(error.reason)"
                }
            }
            return nil
        }
        if let failure { throw .damaged(failure) }
        guard counts == h.counts else { throw .damaged("counts do not match the header") }
        return (h, records)
    }
}
