import DLSMSStorage
import Foundation
import Synchronization

/// Real POSIX storage whose syncs (and writes) start failing when told to: the fault model of a
/// dying disk, without one.
public final class FaultyIO: StorageIO {
    public let real = PosixIO()

    public init() {}
    private let failing = Mutex(false)
    private let failingOpens = Mutex(false)
    /// How often each file's handle was closed.
    public let closes = Mutex<[String: Int]>([:])

    public func failFromNowOn() { failing.withLock { $0 = true } }
    /// Opening a file for appending fails (a segment rollover on a full disk).
    public func failOpensFromNowOn() { failingOpens.withLock { $0 = true } }
    public var isFailing: Bool { failing.withLock { $0 } }

    final class Handle: AppendHandle {
        let inner: any AppendHandle
        let io: FaultyIO
        init(inner: any AppendHandle, io: FaultyIO) {
            self.inner = inner
            self.io = io
        }
        var path: String { inner.path }
        func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
            try inner.write(bytes)  // the bytes may reach the file; only the sync says they are durable
        }
        func sync() throws(StorageError) {
            if io.isFailing { throw StorageError("fdatasync", path, errno: EIO) }
            try inner.sync()
        }
        func truncate(to size: Int) throws(StorageError) { try inner.truncate(to: size) }
        func close() {
            io.closes.withLock { $0[path, default: 0] += 1 }
            inner.close()
        }
    }

    public func openForAppend(_ path: String) throws(StorageError) -> any AppendHandle {
        if failingOpens.withLock({ $0 }) { throw StorageError("open", path, errno: ENOSPC) }
        return Handle(inner: try real.openForAppend(path), io: self)
    }
    public func read(_ path: String) throws(StorageError) -> [UInt8] { try real.read(path) }
    public func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        if isFailing { throw StorageError("fsync", path, errno: EIO) }
        try real.writeAtomically(path, bytes)
    }
    public func list(_ directory: String) throws(StorageError) -> [String] { try real.list(directory) }
    public func remove(_ path: String) throws(StorageError) { try real.remove(path) }
    public func truncate(_ path: String, to size: Int) throws(StorageError) { try real.truncate(path, to: size) }
    public func syncDirectory(_ directory: String) throws(StorageError) { try real.syncDirectory(directory) }
    public func makeDirectory(_ path: String) throws(StorageError) { try real.makeDirectory(path) }
    public func fileSize(_ path: String) throws(StorageError) -> Int { try real.fileSize(path) }
    public func read(_ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        try real.read(path, offset: offset, count: count)
    }
    public func syncFile(_ path: String) throws(StorageError) {
        if isFailing { throw StorageError("fdatasync", path, errno: EIO) }
        try real.syncFile(path)
    }
    public func removeDirectory(_ path: String) throws(StorageError) { try real.removeDirectory(path) }
}
