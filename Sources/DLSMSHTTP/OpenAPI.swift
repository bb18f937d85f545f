import DLSMSApp
import Foundation

/// The contract as OpenAPI 3.1 (`Sources/DLSMSHTTP/openapi.yaml`), served at `/openapi.yaml`.
package enum OpenAPI {
    package static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return "openapi: 3.1.0\ninfo: {title: DL-SMS, version: '1'}\npaths: {}\n" }
        return text
    }()

    /// Each path of the document (segments; `{…}` matches any one segment) with its methods.
    package static let routes: [(segments: [Substring], methods: [String])] = {
        var routes: [(segments: [Substring], methods: [String])] = []
        var inPaths = false
        for line in document.split(separator: "\n", omittingEmptySubsequences: false) {
            if line == "paths:" {
                inPaths = true
                continue
            }
            guard inPaths else { continue }
            if !line.hasPrefix(" ") && !line.isEmpty { break }  // the next top-level key
            if line.hasPrefix("  /") && line.hasSuffix(":") && !line.hasPrefix("   ") {
                routes.append((line.dropFirst(2).dropLast().split(separator: "/"), []))
            } else if line.hasPrefix("    "), !line.hasPrefix("     "), let method = line.split(separator: ":").first,
                ["get", "put", "post", "delete", "patch"].contains(method.trimmingCharacters(in: .whitespaces))
            {
                routes[routes.count - 1].methods.append(method.trimmingCharacters(in: .whitespaces).uppercased())
            }
        }
        return routes
    }()

    /// The methods the document allows on `path`, or `nil` if no path of it matches.
    package static func methods(for path: String) -> [String]? {
        let segments = path.split(separator: "/")
        return routes.first { route in
            route.segments.count == segments.count
                && zip(route.segments, segments).allSatisfy { $0.hasPrefix("{") || $0 == $1 }
        }?.methods
    }
}
