import DLSMSApp
import DLSMSCore
import DLSMSEngine
import DLSMSGRPC
import DLSMSHTTP
import DLSMSReplication
import Foundation

#if canImport(Glibc)
    import Glibc
#endif

/// Binds the listening address once, before the data directory is opened, so that a port in
/// use stops the start with nothing seeded or recovered for nothing. (The real listener binds a
/// moment later, with `SO_REUSEADDR` as here; port 0 is always free.)
public enum PortProbe {
    /// The host does not resolve: a usage error.
    public struct UnknownHost: Error, CustomStringConvertible {
        public var description: String
    }

    public static func check(host: String, port: Int) throws {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let info = result else {
            throw UnknownHost(description: "--host/DLSMS_HOST: cannot resolve the listening address '\(host)'")
        }
        defer { freeaddrinfo(result) }
        let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype, info.pointee.ai_protocol)
        guard fd >= 0 else { throw ConfigurationError("cannot open a socket: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        guard bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) == 0 else {
            throw ConfigurationError("cannot listen on \(host):\(port): \(String(cString: strerror(errno)))")
        }
    }
}
