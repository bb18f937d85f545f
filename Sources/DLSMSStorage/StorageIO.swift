import DLSMSCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// A storage failure, with the path and the system's word for it.
public struct StorageError: Error, Sendable, CustomStringConvertible {
    public var operation: String
    public var path: String
    public var errno: Int32

    public init(_ operation: String, _ path: String, errno: Int32) {
        self.operation = operation
        self.path = path
        self.errno = errno
    }

    public var description: String {
        "\(operation) \(path): \(String(cString: strerror(errno)))"
    }
}

/// An open file that is only ever appended to (a WAL segment). Owned by one writer at a time.
public protocol AppendHandle: Sendable {
    var path: String { get }
    func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError)
    /// Makes everything written so far durable (`fdatasync`).
    func sync() throws(StorageError)
    /// Cuts the file back to `size` bytes and syncs (undoing writes that were refused).
    func truncate(to size: Int) throws(StorageError)
    func close()
}

/// Everything the WAL, the snapshots and recovery do to the disk, behind one interface so that
/// tests can inject faults (a failing fsync, a torn write) without a real crash.
public protocol StorageIO: Sendable {
    func openForAppend(_ path: String) throws(StorageError) -> any AppendHandle
    func read(_ path: String) throws(StorageError) -> [UInt8]
    /// Writes `bytes` to a temporary file, fsyncs it, renames it over `path`, fsyncs the directory.
    func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError)
    /// File names (not paths) in a directory.
    func list(_ directory: String) throws(StorageError) -> [String]
    func remove(_ path: String) throws(StorageError)
    func truncate(_ path: String, to size: Int) throws(StorageError)
    func syncDirectory(_ directory: String) throws(StorageError)
    func makeDirectory(_ path: String) throws(StorageError)
    func fileSize(_ path: String) throws(StorageError) -> Int
    /// At most `count` bytes of a file from `offset` (fewer at its end).
    func read(_ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8]
    /// Makes what was written to a file durable (`fdatasync`), by its path.
    func syncFile(_ path: String) throws(StorageError)
    /// Removes an empty directory.
    func removeDirectory(_ path: String) throws(StorageError)
}

extension StorageIO {
    public func read(_ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        let bytes = try read(path)
        guard offset < bytes.count, count > 0 else { return [] }
        return Array(bytes[offset..<min(bytes.count, offset + count)])
    }

    public func syncFile(_ path: String) throws(StorageError) { try PosixIO().syncFile(path) }

    public func removeDirectory(_ path: String) throws(StorageError) { try PosixIO().removeDirectory(path) }
}

/// The real thing: POSIX calls.
public struct PosixIO: StorageIO {
    public init() {}

    final class Handle: AppendHandle {
        let path: String
        let fd: Int32

        init(path: String, fd: Int32) {
            self.path = path
            self.fd = fd
        }

        func write(_ bytes: UnsafeRawBufferPointer) throws(StorageError) {
            var done = 0
            while done < bytes.count {
                let n = Glibc.write(fd, bytes.baseAddress! + done, bytes.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StorageError("write", path, errno: errno)
                }
                done += n
            }
        }

        func sync() throws(StorageError) {
            if fdatasync(fd) != 0 { throw StorageError("fdatasync", path, errno: errno) }
        }

        func truncate(to size: Int) throws(StorageError) {
            if ftruncate(fd, off_t(size)) != 0 { throw StorageError("ftruncate", path, errno: errno) }
            if fsync(fd) != 0 { throw StorageError("fsync", path, errno: errno) }
        }

        func close() { _ = Glibc.close(fd) }
    }

    public func openForAppend(_ path: String) throws(StorageError) -> any AppendHandle {
        let fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError("open", path, errno: errno) }
        return Handle(path: path, fd: fd)
    }

    public func read(_ path: String) throws(StorageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError("open", path, errno: errno) }
        defer { _ = close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else { throw StorageError("stat", path, errno: errno) }
        return try Self.read(fd, path, offset: 0, count: Int(st.st_size))
    }

    public func read(_ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError("open", path, errno: errno) }
        defer { _ = close(fd) }
        return try Self.read(fd, path, offset: offset, count: count)
    }

    /// Up to `count` bytes from `offset` (fewer at the end of the file).
    private static func read(_ fd: Int32, _ path: String, offset: Int, count: Int) throws(StorageError) -> [UInt8] {
        guard count > 0 else { return [] }
        var bytes = [UInt8](repeating: 0, count: count)
        var done = 0
        let failure: Int32 = bytes.withUnsafeMutableBytes { buf in
            while done < count {
                let n = pread(fd, buf.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    return errno
                }
                if n == 0 { break }
                done += n
            }
            return 0
        }
        if failure != 0 { throw StorageError("read", path, errno: failure) }
        return done == count ? bytes : Array(bytes[..<done])
    }

    public func syncFile(_ path: String) throws(StorageError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError("open", path, errno: errno) }
        defer { _ = close(fd) }
        if fdatasync(fd) != 0 { throw StorageError("fdatasync", path, errno: errno) }
    }

    public func removeDirectory(_ path: String) throws(StorageError) {
        if rmdir(path) != 0 && errno != ENOENT { throw StorageError("rmdir", path, errno: errno) }
    }

    public func writeAtomically(_ path: String, _ bytes: [UInt8]) throws(StorageError) {
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StorageError("open", tmp, errno: errno) }
        let handle = Handle(path: tmp, fd: fd)
        do throws(StorageError) {
            try bytes.withBytes { (raw) throws(StorageError) in try handle.write(raw) }
            if fsync(fd) != 0 { throw StorageError("fsync", tmp, errno: errno) }
        } catch {
            handle.close()
            _ = unlink(tmp)
            throw error
        }
        handle.close()
        guard rename(tmp, path) == 0 else { throw StorageError("rename", tmp, errno: errno) }
        try syncDirectory(Self.directory(of: path))
    }

    public func list(_ directory: String) throws(StorageError) -> [String] {
        guard let dir = opendir(directory) else { throw StorageError("opendir", directory, errno: errno) }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names.sorted()
    }

    public func remove(_ path: String) throws(StorageError) {
        if unlink(path) != 0 && errno != ENOENT { throw StorageError("unlink", path, errno: errno) }
    }

    public func truncate(_ path: String, to size: Int) throws(StorageError) {
        if Glibc.truncate(path, off_t(size)) != 0 { throw StorageError("truncate", path, errno: errno) }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = fsync(fd)
            _ = close(fd)
        }
    }

    public func syncDirectory(_ directory: String) throws(StorageError) {
        let fd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw StorageError("open", directory, errno: errno) }
        defer { _ = close(fd) }
        if fsync(fd) != 0 { throw StorageError("fsync", directory, errno: errno) }
    }

    public func makeDirectory(_ path: String) throws(StorageError) {
        var st = stat()
        if stat(path, &st) == 0 { return }
        if mkdir(path, 0o700) != 0 && errno != EEXIST { throw StorageError("mkdir", path, errno: errno) }
    }

    public func fileSize(_ path: String) throws(StorageError) -> Int {
        var st = stat()
        guard stat(path, &st) == 0 else { throw StorageError("stat", path, errno: errno) }
        return Int(st.st_size)
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
