import CLDAP
import Dispatch
import Foundation
import Synchronization

/// The TCP connection under an ``LDAPHandle``, made here rather than by libldap so that its
/// time is ours to bound: the connect waits at most the timeout, and a ``LDAPWatchdog`` shuts the
/// socket down when a libldap call overruns. (libldap 2.5's own network timeout puts the TLS
/// handshake in non-blocking mode, where with GnuTLS a server that accepts and never answers
/// makes it spin on EAGAIN forever — measured with `ldapwhoami -o nettimeout=2` against a silent
/// listener: 140 s of full CPU and counting.)
enum LDAPSocket {
    /// A connected socket to the first of `urls` that accepts within `timeout` seconds (each),
    /// in blocking mode, and the url it belongs to.
    static func connect(_ urls: [String], timeout: Int) throws(LDAPCallError) -> (fd: Int32, url: String) {
        var last = LDAPCallError(code: LDAP_PARAM_ERROR, operation: "connect", diagnostic: "no url")
        for url in urls {
            do throws(LDAPCallError) {
                let (host, port) = try hostAndPort(url)
                return (try connect(host: host, port: port, timeout: timeout), url)
            } catch {
                last = error
            }
        }
        throw last
    }

    static func hostAndPort(_ url: String) throws(LDAPCallError) -> (String, Int) {
        var desc: UnsafeMutablePointer<LDAPURLDesc>?
        let code = ldap_url_parse(url, &desc)
        guard code == LDAP_URL_SUCCESS, let desc, let host = desc.pointee.lud_host else {
            throw LDAPCallError(code: LDAP_PARAM_ERROR, operation: "url", diagnostic: url)
        }
        defer { ldap_free_urldesc(desc) }
        let secure = String(cString: desc.pointee.lud_scheme).lowercased() == "ldaps"
        let port = desc.pointee.lud_port > 0 ? Int(desc.pointee.lud_port) : (secure ? 636 : 389)
        return (String(cString: host), port)
    }

    static func connect(host: String, port: Int, timeout: Int) throws(LDAPCallError) -> Int32 {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let resolved = getaddrinfo(host.isEmpty ? "localhost" : host, String(port), &hints, &list)
        guard resolved == 0, let list else {
            throw LDAPCallError(
                code: LDAP_SERVER_DOWN, operation: "resolve \(host)",
                diagnostic: String(cString: gai_strerror(resolved)))
        }
        defer { freeaddrinfo(list) }
        let name = "connect \(host):\(port)"
        var last = LDAPCallError(code: LDAP_SERVER_DOWN, operation: name, diagnostic: "no address")
        var next: UnsafeMutablePointer<addrinfo>? = list
        while let address = next {
            switch attempt(address.pointee, timeout: timeout, name) {
            case .success(let fd): return fd
            case .failure(let error): last = error
            }
            next = address.pointee.ai_next
        }
        throw last
    }

    /// One address: a non-blocking connect, a poll for at most `timeout` seconds, then blocking.
    private static func attempt(_ address: addrinfo, timeout: Int, _ name: String) -> Result<Int32, LDAPCallError> {
        let fd = socket(address.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            return .failure(
                LDAPCallError(code: LDAP_LOCAL_ERROR, operation: name, diagnostic: String(cString: strerror(errno))))
        }
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        var failure: String?
        if Glibc.connect(fd, address.ai_addr, address.ai_addrlen) != 0 {
            failure = errno == EINPROGRESS ? wait(fd, timeout: timeout) : String(cString: strerror(errno))
        }
        if let failure {
            close(fd)
            let code = failure == "timed out" ? LDAP_TIMEOUT : LDAP_SERVER_DOWN
            return .failure(LDAPCallError(code: code, operation: name, diagnostic: failure))
        }
        _ = fcntl(fd, F_SETFL, flags & ~O_NONBLOCK)
        // Writes outside the watchdog's watch (the unbind) give up rather than block for ever.
        var limit = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, socklen_t(MemoryLayout<timeval>.size))
        return .success(fd)
    }

    /// nil when the connect completed; otherwise why not.
    private static func wait(_ fd: Int32, timeout: Int) -> String? {
        var pending = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
        let deadline = ContinuousClock.now + .seconds(timeout)
        while true {
            let left = deadline - ContinuousClock.now
            let ms = max(
                0, Int32(left.components.seconds * 1_000 + left.components.attoseconds / 1_000_000_000_000_000))
            let n = poll(&pending, 1, ms)
            if n < 0 && errno == EINTR { continue }
            if n == 0 { return "timed out" }
            if n < 0 { return String(cString: strerror(errno)) }
            var error: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length)
            return error == 0 ? nil : String(cString: strerror(error))
        }
    }
}

/// Bounds each blocking libldap call on one connection: armed for a call, it shuts the socket
/// down (both ways) if the call is still running `grace` after the timeout, which wakes any read
/// or write libldap is blocked or spinning in; the call then fails and ``fired`` says why.
/// The socket is only ever shut down while open: ``close()`` comes before libldap closes it.
final class LDAPWatchdog: Sendable {
    private struct State {
        var generation = 0
        var closed = false
        var fired = false
    }

    private let state = Mutex(State())
    private let fd: Int32
    private let limit: DispatchTimeInterval

    init(fd: Int32, timeout: Int, grace: Int = 1) {
        self.fd = fd
        limit = .seconds(timeout + grace)
    }

    /// Whether the watchdog shut the socket down.
    var fired: Bool { state.withLock { $0.fired } }

    func guarded<T>(_ body: () -> T) -> T {
        let generation = state.withLock { s in
            s.generation += 1
            return s.generation
        }
        let alarm = DispatchWorkItem { [self] in fire(generation) }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: alarm)
        defer {
            alarm.cancel()
            state.withLock { $0.generation += 1 }
        }
        return body()
    }

    private func fire(_ generation: Int) {
        state.withLock { s in
            guard !s.closed, s.generation == generation else { return }
            s.fired = true
            shutdown(fd, Int32(SHUT_RDWR))
        }
    }

    /// No shutdown from now on (the socket is about to be closed).
    func close() { state.withLock { $0.closed = true } }
}
