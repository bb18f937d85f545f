import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Sends raw bytes to 127.0.0.1:`port` and reads the answer until the server closes or
/// `timeout` seconds pass: for requests no HTTP client would send (bad chunk sizes, smuggling
/// attempts, truncated bodies). `halfClose` shuts the writing side after sending, as a client
/// that sent a short body and stopped.
public func rawExchange(port: Int, _ request: [UInt8], halfClose: Bool = false, timeout: Double = 10) async -> String {
    guard let c = RawConnection(port: port) else { return "" }
    c.send(bytes: request)
    if halfClose { c.shutdownWriting() }
    return await c.readResponse(timeout: timeout)
}

/// `true` once `bytes` hold a response head and the whole body its `Content-Length` announces.
func isComplete(_ bytes: [UInt8]) -> Bool {
    let text = String(decoding: bytes, as: UTF8.self)
    guard let end = text.range(of: "\r\n\r\n") else { return false }
    let head = text[..<end.lowerBound].lowercased()
    guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
        let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces))
    else { return false }
    return text[end.upperBound...].utf8.count >= length
}

/// The status code of a raw HTTP answer (`HTTP/1.1 400 Bad Request` → 400), or 0.
public func rawStatus(_ answer: String) -> Int {
    let parts = answer.prefix(while: { $0 != "\r" }).split(separator: " ")
    return parts.count >= 2 ? Int(parts[1]) ?? 0 : 0
}

/// The body of a raw HTTP answer (after the blank line).
public func rawBody(_ answer: String) -> String {
    guard let range = answer.range(of: "\r\n\r\n") else { return "" }
    return String(answer[range.upperBound...])
}

/// A raw TCP connection to 127.0.0.1 kept open: for event streams and idle connections.
public final class RawConnection: @unchecked Sendable {
    private let fd: Int32
    private var received: [UInt8] = []

    public init?(port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size))
            }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        self.fd = fd
    }

    deinit { close(fd) }

    public func send(_ text: String) { send(bytes: Array(text.utf8)) }

    public func send(bytes: [UInt8]) {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return }
            sent += n
        }
    }

    /// Everything received so far, reading until `text` arrives, the peer closes, or `timeout`.
    /// Each read below waits on a thread of its own (``offThePool(_:)``).
    @discardableResult
    public func read(until text: String, timeout: Double = 10) async -> String {
        await offThePool { self.readBlocking(until: text, timeout: timeout) }
    }

    private func readBlocking(until text: String, timeout: Double) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while !String(decoding: received, as: UTF8.self).contains(text), Date() < deadline {
            guard let chunk = receive(deadline: deadline) else { break }
            received += chunk
        }
        return String(decoding: received, as: UTF8.self)
    }

    /// `true` once the peer closes the connection (reading and discarding data), within `timeout`.
    public func closedByPeer(timeout: Double = 10) async -> Bool {
        await offThePool { self.closedByPeerBlocking(timeout: timeout) }
    }

    private func closedByPeerBlocking(timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let chunk = receive(deadline: deadline) else { return !timedOut }
            received += chunk
        }
        return false
    }

    private var timedOut = false

    /// One read: the bytes, or `nil` at end of stream or error (`timedOut` says which).
    private func receive(deadline: Date) -> [UInt8]? {
        var remaining = max(0.01, deadline.timeIntervalSinceNow)
        var tv = timeval(tv_sec: Int(remaining), tv_usec: Int((remaining - remaining.rounded(.down)) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        timedOut = n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)
        remaining = 0
        return n > 0 ? Array(buffer[..<n]) : nil
    }

    /// Closes the connection from this side.
    public func shutdownBoth() { shutdown(fd, Int32(SHUT_RDWR)) }

    /// Stops sending (a client that sent what it had and went quiet).
    public func shutdownWriting() { shutdown(fd, Int32(SHUT_WR)) }

    /// Reads until one whole response (head and the body its `Content-Length` announces) has
    /// arrived, the server closes, or `timeout` seconds pass.
    public func readResponse(timeout: Double) async -> String {
        await offThePool { self.readResponseBlocking(timeout: timeout) }
    }

    private func readResponseBlocking(timeout: Double) -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while !isComplete(received), Date() < deadline {
            guard let chunk = receive(deadline: deadline) else { break }
            received += chunk
        }
        return text
    }

    /// Everything received so far.
    public var text: String { String(decoding: received, as: UTF8.self) }

    /// Reads until `done` holds for the bytes received so far, the peer closes, or `timeout`
    /// seconds pass; returns them.
    public func readBytes(timeout: Double = 10, until done: @escaping @Sendable ([UInt8]) -> Bool) async -> [UInt8] {
        await offThePool { self.readBytesBlocking(timeout: timeout, until: done) }
    }

    private func readBytesBlocking(timeout: Double, until done: ([UInt8]) -> Bool) -> [UInt8] {
        let deadline = Date().addingTimeInterval(timeout)
        while !done(received), Date() < deadline {
            guard let chunk = receive(deadline: deadline) else { break }
            received += chunk
        }
        return received
    }

    /// `true` once `marker` has arrived (within `timeout` seconds).
    public func waitFor(_ marker: String, timeout: Double = 10) async -> Bool {
        await read(until: marker, timeout: timeout).contains(marker)
    }

    /// `GET path` on a new connection, as an event-stream client (with `Last-Event-ID` if given).
    public static func eventStream(port: Int, path: String, lastEventID: String? = nil) -> RawConnection? {
        guard let c = RawConnection(port: port) else { return nil }
        var request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n"
        if let lastEventID { request += "Last-Event-ID: \(lastEventID)\r\n" }
        c.send(request + "\r\n")
        return c
    }
}
