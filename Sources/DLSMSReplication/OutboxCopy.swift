import DLSMSStorage
import NIOCore

/// The body of `GET /replication/outbox`: a copy of the primary's webhook spools for a new
/// standby, as files relative to the data directory. Each file is
/// `[path length: 2 bytes][size: 4 bytes][CRC-32C of the bytes: 4 bytes][path][bytes]`
/// (little-endian); two zero bytes end the copy.
package enum OutboxCopy {
    package static let headerSize = 10

    package static func entry(path: String, bytes: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        let name = Array(path.utf8)
        buffer.reserveCapacity(headerSize + name.count + bytes.count)
        buffer.writeInteger(UInt16(name.count), endianness: .little)
        buffer.writeInteger(UInt32(bytes.count), endianness: .little)
        buffer.writeInteger(CRC32C.checksum(bytes), endianness: .little)
        buffer.writeBytes(name)
        buffer.writeBytes(bytes)
        return buffer
    }

    package static var end: ByteBuffer { ByteBuffer(bytes: [0, 0]) }

    /// A path a copy may write: `outbox/webhooks/<endpoint id>/<segment file or state>`.
    package static func allowed(_ path: String) -> Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 4, parts[0] == "outbox", parts[1] == "webhooks",
            let id = Int64(parts[2]), id > 0, String(id) == parts[2]
        else { return false }
        return parts[3] == Spool.stateName[...] || Spool.segmentFirst(String(parts[3])) != nil
    }

    package struct Refused: Error, CustomStringConvertible {
        package var description: String
    }

    /// Takes the whole entries at the start of `buffer`, calling `write` with each; `true` once
    /// the end is read.
    package static func take(
        _ buffer: inout ByteBuffer, _ write: (String, [UInt8]) throws -> Void
    ) throws -> Bool {
        while buffer.readableBytes >= 2 {
            let length = Int(buffer.getInteger(at: buffer.readerIndex, endianness: .little, as: UInt16.self)!)
            if length == 0 {
                buffer.moveReaderIndex(forwardBy: 2)
                return true
            }
            guard buffer.readableBytes >= headerSize else { return false }
            let size = Int(buffer.getInteger(at: buffer.readerIndex + 2, endianness: .little, as: UInt32.self)!)
            let crc = buffer.getInteger(at: buffer.readerIndex + 6, endianness: .little, as: UInt32.self)!
            guard size <= 256 << 20 else { throw Refused(description: "an outbox file of \(size) bytes") }
            guard buffer.readableBytes >= headerSize + length + size else { return false }
            buffer.moveReaderIndex(forwardBy: headerSize)
            let path = buffer.readString(length: length)!
            let bytes = buffer.readBytes(length: size)!
            guard allowed(path) else { throw Refused(description: "an outbox file at an unexpected path") }
            guard CRC32C.checksum(bytes) == crc else { throw Refused(description: "\(path): checksum mismatch") }
            try write(path, bytes)
        }
        return false
    }
}
