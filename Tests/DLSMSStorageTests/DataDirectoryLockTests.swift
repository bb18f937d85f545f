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
        // A new directory is its owner's only from the first open.
        let fresh = dir + "/new"
        let lock = try DataDirectoryLock(directory: fresh)
        #expect(try mode(fresh) == 0o700)
        _ = lock
    }
}
