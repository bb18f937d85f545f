import DLSMSApp
import Hummingbird
import NIOCore

/// The contract's JSON answers as Hummingbird responses.
extension Render {
    package static func response(_ status: HTTPResponse.Status = .ok, _ body: (inout JSONWriter) -> Void) -> Response {
        var w = JSONWriter()
        body(&w)
        return response(w, status: status)
    }

    package static func response(_ w: JSONWriter, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(bytes: w.bytes)))
    }
}
