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
    /// Why the directory's mode was left as it is (it holds files DL-SMS did not write, or is
    /// shared), for the caller to log; nil when it is its owner's only.
    public let notTightened: String?

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
        // directory made by an earlier version, or by hand, is tightened on every open — the
        // directory and what DL-SMS keeps in it. A directory that holds anything else (a shared
        // one, `--data-dir /tmp` or a home directory) is left as it is and said so
        // (``notTightened``): changing its mode would lock its other users out.
        switch Self.tighten(directory) {
        case .success(let note): notTightened = note
        case .failure(let failure):
            close(fd)
            throw failure
        }
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
        descriptor = fd
    }

    /// Whether a name in the data directory is one DL-SMS writes.
    static func isOurs(_ name: String) -> Bool {
        ["LOCK", "jwt-secret", "archive.log", "outbox", "diverged"].contains(name) || name.hasPrefix("wal-")
            || name.hasPrefix("snapshot-") || name.hasPrefix(".")
    }

    /// Makes `directory` and what DL-SMS keeps in it its owner's only (directories 0700, files
    /// 0600), if every entry is DL-SMS's and the directory is not a shared (sticky) one.
    static func tighten(_ directory: String) -> Result<String?, Unavailable> {
        var status = stat()
        guard stat(directory, &status) == 0 else { return .success(nil) }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        if status.st_mode & S_ISVTX != 0 || !names.allSatisfy(isOurs) {
            guard status.st_mode & 0o077 != 0 else { return .success(nil) }
            return .success(
                "\(directory) is left readable by others: it is shared or holds files DL-SMS did not write; give DL-SMS a directory of its own"
            )
        }
        if status.st_mode & 0o077 != 0, chmod(directory, 0o700) != 0 {
            let code = errno
            return .failure(
                Unavailable(
                    description:
                        "\(directory) is readable by others and cannot be made its owner's only (\(String(cString: strerror(code)))): chmod 700 it, or run as its owner",
                    holder: nil))
        }
        restrictEntries(of: directory, depth: 1)
        return .success(nil)
    }

    /// Best effort: DL-SMS's files 0600 and directories 0700 (an earlier version's `jwt-secret`,
    /// WAL segments, `outbox/`), symbolic links left alone, three levels down at most.
    private static func restrictEntries(of directory: String, depth: Int) {
        for name in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            let path = directory + "/" + name
            var st = stat()
            guard lstat(path, &st) == 0, st.st_mode & S_IFMT != S_IFLNK else { continue }
            let isDirectory = st.st_mode & S_IFMT == S_IFDIR
            if st.st_mode & 0o077 != 0 { _ = chmod(path, isDirectory ? 0o700 : 0o600) }
            if isDirectory && depth < 3 { restrictEntries(of: path, depth: depth + 1) }
        }
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
