import DLSMSCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Storage in memory: files are byte arrays, directories a set of names. What an engine without a
/// data directory keeps its spools in (an in-memory engine, the offline tools that replay), and a
/// stand-in for tests; nothing survives the process.
public final class MemoryIO: StorageIO {
    private struct Files {
        var files: [String: [UInt8]] = [:]
        var directories: Set<String> = []
    }
    private let files = Mutex(Files())

    public init() {}

    final class Handle: AppendHandle {
        let path: String
        let io: MemoryIO
        init(path: String, io: MemoryIO) {
            self.path = path
            self.io = io
        }
        func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
            io.files.withLock { $0.files[path, default: []].append(contentsOf: bytes) }
        }
        func sync() throws(StorageError) {}
        func truncate(to size: Int) throws(StorageError) {
            io.files.withLock { f in
                if var bytes = f.files[path], bytes.count > size {
                    bytes.removeSubrange(size...)
                    f.files[path] = bytes
                }
            }
        }
        func close() {}
    }

    public func openForAppend(_ path: String) throws(StorageError) -> any AppendHandle {
        files.withLock { f in if f.files[path] == nil { f.files[path] = [] } }
        return Handle(path: path, io: self)
    }

    public func read(_ path: String) throws(StorageError) -> [UInt8] {
        guard let bytes = files.withLock({ $0.files[path] }) else { throw StorageError("open", path, errno: ENOENT) }
        return bytes
    }

    public func read(_ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        let bytes = try read(path)
        guard offset < bytes.count, count > 0 else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }

    public func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        files.withLock { $0.files[path] = bytes }
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        let prefix = directory + "/"
        let names: [String]? = files.withLock { f in
            guard f.directories.contains(directory) else { return nil }
            let inside = f.files.keys.map { $0 } + f.directories.map { $0 }
            return inside.filter { $0.hasPrefix(prefix) }.map { String($0.dropFirst(prefix.count)) }
                .filter { !$0.contains("/") }
        }
        guard let names else { throw StorageError("opendir", directory, errno: ENOENT) }
        return names.sorted()
    }

    public func remove(_ path: String) throws(StorageError) {
        files.withLock { _ = $0.files.removeValue(forKey: path) }
    }

    public func truncate(_ path: String, to size: Int) throws(StorageError) {
        try Handle(path: path, io: self).truncate(to: size)
    }

    public func syncDirectory(_ directory: String) throws(StorageError) {}
    public func syncFile(_ path: String) throws(StorageError) {}

    public func makeDirectory(_ path: String) throws(StorageError) {
        files.withLock { f in
            var p = path
            while !p.isEmpty {
                f.directories.insert(p)
                guard let slash = p.lastIndex(of: "/") else { break }
                p = String(p[..<slash])
            }
        }
    }

    public func removeDirectory(_ path: String) throws(StorageError) {
        files.withLock { _ = $0.directories.remove(path) }
    }

    public func fileSize(_ path: String) throws(StorageError) -> Int { try read(path).count }
}
