import DLSMSCore
import DLSMSEngine
import Synchronization

/// Open connections, in all and per client address, against the caps.
public final class ConnectionCounter: Sendable {
    public let limit: Int
    public let perAddress: Int
    private struct State {
        var open = 0
        var byAddress: [String: Int] = [:]
    }
    private let state = Mutex(State())

    public init(limit: Int, perAddress: Int = .max) {
        self.limit = limit
        self.perAddress = perAddress
    }

    public var count: Int { state.withLock { $0.open } }

    /// Counts a new connection from `address` (`nil`: exempt from the per-address cap); `false`
    /// when it is one too many (it still counts until it closes).
    package func opened(from address: String?) -> Bool {
        state.withLock { s in
            s.open += 1
            var ok = s.open <= limit
            if let address {
                let n = s.byAddress[address, default: 0] + 1
                s.byAddress[address] = n
                ok = ok && n <= perAddress
            }
            return ok
        }
    }

    package func closed(from address: String?) {
        state.withLock { s in
            s.open -= 1
            if let address {
                let n = s.byAddress[address, default: 1] - 1
                s.byAddress[address] = n > 0 ? n : nil
            }
        }
    }
}

/// One connection's place in a ``ConnectionCounter``, for the REST and the gRPC guards alike.
package struct ConnectionSlot {
    package let counter: ConnectionCounter
    package let exempt: TrustedProxies
    private var address: String?
    private var counted = false

    package init(counter: ConnectionCounter, exempt: TrustedProxies) {
        self.counter = counter
        self.exempt = exempt
    }

    /// Counts the connection from `peer` (trusted proxies are exempt from the per-address cap);
    /// `false` when it is one too many.
    package mutating func take(peer: String?) -> Bool {
        address = peer.flatMap { exempt.trusts($0) ? nil : TrustedProxies.key($0) }
        counted = true
        return counter.opened(from: address)
    }

    package mutating func release() {
        if counted {
            counted = false
            counter.closed(from: address)
        }
    }
}
