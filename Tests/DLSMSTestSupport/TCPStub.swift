import Foundation
import Synchronization

/// A loopback TCP listener that plays a broken server:
/// - `.silent`: connections are accepted (by the kernel) and never answered;
/// - `.garbage(bytes)`: each connection gets `bytes` once something arrives, and stays open;
/// - `.reset`: each connection is accepted and reset at once.
public final class TCPStub: Sendable {
    public enum Behaviour: Sendable {
        case silent
        case garbage([UInt8])
        case reset
    }

    public let port: Int
    private let listener: Int32
    private let serving: Bool
    private let state = Mutex((stopped: false, open: [Int32]()))

    public init(_ behaviour: Behaviour) throws {
        (listener, port) = try listeningSocket()
        if case .silent = behaviour {
            serving = false
            return
        }
        serving = true
        let thread = Thread { [self] in serve(behaviour) }
        thread.start()
    }

    public var url: String { "ldap://127.0.0.1:\(port)" }

    /// Accepts until ``stop()`` shuts the listener down, then closes it.
    private func serve(_ behaviour: Behaviour) {
        while true {
            let fd = accept(listener, nil, nil)
            if fd < 0 {
                if errno == EINTR { continue }
                close(listener)
                return
            }
            switch behaviour {
            case .silent: keep(fd)
            case .reset:
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                close(fd)
            case .garbage(let bytes):
                var buffer = [UInt8](repeating: 0, count: 4_096)
                _ = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                keep(fd)
            }
        }
    }

    /// Keeps a connection open until ``stop()`` (closed at once if that has come).
    private func keep(_ fd: Int32) {
        let stopped = state.withLock { s in
            if !s.stopped { s.open.append(fd) }
            return s.stopped
        }
        if stopped { close(fd) }
    }

    /// Closes the listener (which resets the connections still waiting in its queue) and every
    /// connection it kept; again does nothing.
    public func stop() {
        let (first, open) = state.withLock { s in
            defer { s = (true, []) }
            return (!s.stopped, s.open)
        }
        guard first else { return }
        shutdown(listener, Int32(SHUT_RDWR))
        if !serving { close(listener) }  // otherwise the serving thread closes it
        for fd in open { close(fd) }
    }
}

/// A loopback port nothing listens on (bound, then closed): a connection there is refused.
public func closedLoopbackPort() throws -> Int {
    let (fd, port) = try listeningSocket()
    close(fd)
    return port
}

/// A socket listening on 127.0.0.1 on a free port.
func listeningSocket() throws -> (fd: Int32, port: Int) {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { a in
            bind(fd, a, length) == 0 && listen(fd, 64) == 0 && getsockname(fd, a, &length) == 0
        }
    }
    guard ok else {
        let code = errno
        close(fd)
        throw POSIXError(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
    return (fd, Int(UInt16(bigEndian: address.sin_port)))
}

/// Whether something accepts TCP connections on 127.0.0.1:`port` now.
public func loopbackAccepts(_ port: Int) -> Bool {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return false }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    return withUnsafePointer(to: &address) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0
        }
    }
}
