import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// An exclusive lock on a data directory: `flock` on `<dir>/LOCK`, which also holds the owner's
/// process id. Held by `dlsms serve` and by every offline command that writes, for as long as the
/// process lives (the kernel releases it when the process ends, even on `kill -9`).
public final class DataDirectoryLock: Sendable {
    /// The lock could not be taken; the description says why (and which process holds it).
    public struct Unavailable: Error, CustomStringConvertible, Sendable {
        public var description: String
        /// The holder's process id, when another process holds the lock.
        public var holder: Int32?
    }

    public let path: String
    private let descriptor: Int32

    /// Takes the lock, creating the directory if needed and making it its owner's only (0700);
    /// throws at once if another process has it.
    public init(directory: String) throws(Unavailable) {
        path = directory + "/LOCK"
        guard (try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)) != nil
        else {
            throw Unavailable(description: "cannot create the data directory \(directory)", holder: nil)
        }
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw Unavailable(description: "cannot open \(path): \(String(cString: strerror(errno)))", holder: nil)
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let code = errno
            let holder = Self.readPID(fd)
            close(fd)
            guard code == EWOULDBLOCK else {
                throw Unavailable(description: "cannot lock \(path): \(String(cString: strerror(code)))", holder: nil)
            }
            throw Unavailable(
                description:
                    "the data directory \(directory) is in use by process \(holder.map(String.init) ?? "?") (\(path) is locked)",
                holder: holder)
        }
        // Only the server's user reads the data (accounts, tokens' secrets, reservations): a
        // directory made by an earlier version, or by hand, is tightened to 0700 on every open.
        var status = stat()
        if stat(directory, &status) == 0, status.st_mode & 0o077 != 0, chmod(directory, 0o700) != 0 {
            let code = errno
            close(fd)
            throw Unavailable(
                description:
                    "\(directory) is readable by others and cannot be made its owner's only (\(String(cString: strerror(code)))): chmod 700 it, or run as its owner",
                holder: nil)
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        descriptor = fd
    }

    private static func readPID(_ fd: Int32) -> Int32? {
        var buffer = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &buffer, buffer.count, 0)
        guard n > 0 else { return nil }
        return Int32(String(decoding: buffer[0..<n], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
