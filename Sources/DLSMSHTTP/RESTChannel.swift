import DLSMSApp
import DLSMSEngine
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1

/// Hummingbird's HTTP/1 child channel (the pipeline of `HTTP1Channel`), with ``HTTP1Gate`` between
/// NIO's HTTP/1 decoder and the conversion to HTTP types, where the version and the headers as
/// sent can still be seen.
package struct RESTChannel: ServerChildChannel, HTTPChannelHandler {
    package typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    package let responder: HTTPChannelHandler.Responder
    let configuration: HTTP1Channel.Configuration
    let uploadLimit: @Sendable (String) -> Int

    package func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            var limits = NIOHTTPDecoderLimitConfiguration()
            limits.maxHeaderFieldSize = configuration.httpDecoder.maxHeaderFieldSize
            limits.maxHeaderListSize = configuration.httpDecoder.maxHeaderListSize
            limits.maxHeaderFieldCount = configuration.httpDecoder.maxHeaderFieldCount
            let pipeline = channel.pipeline.syncOperations
            try pipeline.configureHTTPServerPipeline(
                withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
                withEncoderConfiguration: .init(), withDecoderLimitConfiguration: limits)
            try pipeline.addHandler(HTTP1Gate(uploadLimit: uploadLimit))
            try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
            try pipeline.addHandlers(configuration.additionalChannelHandlers())
            try pipeline.addHandler(
                HTTPConnectionStateHandler(idleTimeout: configuration.idleTimeout.map { .init($0) }, logger: logger))
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true))
        }
    }

    package func handle(value: Value, logger: Logger) async {
        await handleHTTP(asyncChannel: value, logger: logger)
    }
}

extension HTTPServerBuilder {
    /// The REST door's HTTP/1.1 server: Hummingbird's, with ``HTTP1Gate``; `uploadLimit` is the
    /// most a route reads of a body at a path.
    package static func rest(
        configuration: HTTP1Channel.Configuration, uploadLimit: @escaping @Sendable (String) -> Int
    ) -> HTTPServerBuilder {
        .init { responder in
            RESTChannel(responder: responder, configuration: configuration, uploadLimit: uploadLimit)
        }
    }
}

extension RESTRouter {
    /// The most a route reads of a request body at `path`: the catalog import's CSV, the group
    /// membership import's CSV, or a JSON body. (A client that sends `Expect: 100-continue` is
    /// told 413 before it sends a body above this.)
    public static func uploadLimit(path: String) -> Int {
        switch path {
        case "/admin/catalog.csv": CatalogCSV.maxUploadBytes
        case "/admin/groups/import": SeatEngine.maxMembershipImportBytes
        default: Limits.defaultBodyBytes
        }
    }
}
