import DLSMSStorage
import DLSMSTestSupport
import Foundation
import Testing

/// The data directory's lock, and what taking it does to the directory.
@Suite struct DataDirectoryLockTests {
    func mode(_ path: String) throws -> Int {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        return try #require(attributes[.posixPermissions] as? Int) & 0o777
    }

    @Test func aWorldReadableDirectoryFromAnEarlierVersionIsMadeItsOwnersOnly() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // As an earlier version left it: created with the umask's 0755.
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        #expect(try mode(dir) == 0o755)
        do {
            let lock = try DataDirectoryLock(directory: dir)
            #expect(try mode(dir) == 0o700)
            _ = lock
        }
        // An earlier version's files and directories inside are tightened too.
        _ = FileManager.default.createFile(
            atPath: dir + "/jwt-secret", contents: Data("s".utf8), attributes: [.posixPermissions: 0o644])
        try FileManager.default.createDirectory(
            atPath: dir + "/outbox/webhooks", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: dir)
        do {
            let lock = try DataDirectoryLock(directory: dir)
            #expect(try mode(dir) == 0o700 && mode(dir + "/jwt-secret") == 0o600)
            #expect(try mode(dir + "/outbox") == 0o700 && mode(dir + "/outbox/webhooks") == 0o700)
            #expect(lock.notTightened == nil)
        }
        // A new directory is its owner's only from the first open.
        let fresh = dir + "/new"
        let lock = try DataDirectoryLock(directory: fresh)
        #expect(try mode(fresh) == 0o700)
        _ = lock
    }

    /// A shared directory named as the data directory (`--data-dir /tmp`) keeps its mode: other
    /// users' files in it stay theirs; the lock says why it was left.
    @Test func aSharedDirectoryIsLeftAsItIs() throws {
        let dir = temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o1777)
        _ = FileManager.default.createFile(
            atPath: dir + "/someone-elses", contents: nil, attributes: [.posixPermissions: 0o644])
        do {
            let lock = try DataDirectoryLock(directory: dir)
            let attributes = try FileManager.default.attributesOfItem(atPath: dir)
            #expect(try #require(attributes[.posixPermissions] as? Int) & 0o7777 == 0o1777)
            #expect(try mode(dir + "/someone-elses") == 0o644)
            #expect(lock.notTightened?.contains("left readable by others") == true)
        }
        // Without the sticky bit, another file there is reason enough too.
        chmod(dir, 0o755)
        let again = try DataDirectoryLock(directory: dir)
        #expect(try mode(dir) == 0o755 && again.notTightened != nil)
    }
}
