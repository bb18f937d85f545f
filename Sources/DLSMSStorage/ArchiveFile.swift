import DLSMSCore

/// `archive.log` in the data directory: finished reservations that left memory (retention), as
/// checksummed frames in the WAL's format, each append synced before the reservations leave
/// memory. Appends are not chained to each other (each batch's frames are numbered from 1), so
/// the file is read frame by frame; a torn tail from a crash during an append is skipped, and a
/// reservation archived twice (a crash between the append and the drop from memory) is read once.
public enum ArchiveFile {
    public static let name = "archive.log"

    /// Appends `records` and makes them durable (`fdatasync`; the directory too when the file is new).
    public static func append(_ records: [JournalRecord], directory: String, io: any StorageIO, time: Timestamp)
        throws(StorageError)
    {
        guard !records.isEmpty else { return }
        var bytes: [UInt8] = []
        var previous: UInt32 = 0
        for (i, r) in records.enumerated() {
            previous = WALFrame.append(r, lsn: UInt64(i + 1), time: time, previousChecksum: previous, to: &bytes)
        }
        let path = directory + "/" + name
        let existed = (try? io.fileSize(path)) != nil
        let handle = try io.openForAppend(path)
        defer { handle.close() }
        try bytes.withBytes { (raw) throws(StorageError) in try handle.write(raw) }
        try handle.sync()
        if !existed { try io.syncDirectory(directory) }
    }

    /// Replaces the file with `reservations` (a new file synced and renamed over the old one): the
    /// archive's compaction, after an anonymisation.
    public static func rewrite(_ reservations: [Reservation], directory: String, io: any StorageIO, time: Timestamp)
        throws(StorageError)
    {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(reservations.count * 48)
        var previous: UInt32 = 0
        for (i, r) in reservations.enumerated() {
            previous = WALFrame.append(
                .reservationChanged(r), lsn: UInt64(i + 1), time: time, previousChecksum: previous, to: &bytes)
        }
        try io.writeAtomically(directory + "/" + name, bytes)
    }

    /// Every archived reservation, by id (the last copy of an id wins), and how many bytes were
    /// skipped as damaged.
    public static func read(directory: String, io: any StorageIO) throws(StorageError) -> (
        reservations: [Reservation], skippedBytes: Int
    ) {
        let path = directory + "/" + name
        guard (try? io.fileSize(path)) != nil else { return ([], 0) }
        let bytes = try io.read(path)
        var byID: [ReservationID: Reservation] = [:]
        var skipped = 0
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                if case .frame(let f) = WALFrame.parse(raw, at: offset) {
                    if case .reservationChanged(let r)? = try? f.record() { byID[r.id] = r }
                    offset += f.size
                } else {
                    offset += 1  // torn or damaged: look for the next frame
                    skipped += 1
                }
            }
        }
        return (byID.values.sorted { $0.id < $1.id }, skipped)
    }
}
