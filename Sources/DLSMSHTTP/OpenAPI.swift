import Foundation

/// The contract as OpenAPI 3.1 (`Sources/DLSMSHTTP/openapi.yaml`), served at `/openapi.yaml`.
enum OpenAPI {
    static let document: String = {
        guard let url = Bundle.module.url(forResource: "openapi", withExtension: "yaml"),
            let text = try? String(contentsOf: url, encoding: .utf8)
        else { return "openapi: 3.1.0\ninfo: {title: DL-SMS, version: '1'}\npaths: {}\n" }
        return text
    }()
}
