import CLZ4

/// LZ4 frame format through liblz4, with the frame's own content checksum switched on.
public enum LZ4 {
    public struct Failure: Error, Sendable, CustomStringConvertible {
        public var description: String
    }

    public static func compress(_ input: [UInt8]) throws(Failure) -> [UInt8] {
        var prefs = LZ4F_preferences_t()
        prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled
        prefs.frameInfo.contentSize = UInt64(input.count)
        prefs.frameInfo.blockSizeID = LZ4F_max4MB
        let bound = LZ4F_compressFrameBound(input.count, &prefs)
        var output = [UInt8](repeating: 0, count: bound)
        let written = output.withUnsafeMutableBytes { out in
            input.withUnsafeBytes { inp in
                LZ4F_compressFrame(out.baseAddress, bound, inp.baseAddress, input.count, &prefs)
            }
        }
        if LZ4F_isError(written) != 0 { throw Failure(description: String(cString: LZ4F_getErrorName(written))) }
        output.removeLast(bound - written)
        return output
    }

    /// Decompresses a frame whose content is `expectedSize` bytes.
    public static func decompress(_ input: UnsafeRawBufferPointer, expectedSize: Int) throws(Failure) -> [UInt8] {
        var ctx: OpaquePointer?
        guard LZ4F_createDecompressionContext(&ctx, UInt32(LZ4F_VERSION)) == 0, let ctx else {
            throw Failure(description: "cannot create an LZ4 context")
        }
        defer { LZ4F_freeDecompressionContext(ctx) }
        var output = [UInt8](repeating: 0, count: expectedSize)
        var inOffset = 0
        var outOffset = 0
        let error: String? = output.withUnsafeMutableBytes { out in
            while true {
                var outSize = expectedSize - outOffset
                var inSize = input.count - inOffset
                let hint = LZ4F_decompress(
                    ctx, out.baseAddress.map { $0 + outOffset }, &outSize, input.baseAddress.map { $0 + inOffset },
                    &inSize, nil)
                if LZ4F_isError(hint) != 0 { return String(cString: LZ4F_getErrorName(hint)) }
                inOffset += inSize
                outOffset += outSize
                if hint == 0 { return nil }  // frame complete, checksum verified
                if inSize == 0 && outSize == 0 { return "truncated LZ4 frame" }
            }
        }
        if let error { throw Failure(description: error) }
        guard outOffset == expectedSize && inOffset == input.count else {
            throw Failure(description: "LZ4 frame holds \(outOffset) bytes, expected \(expectedSize)")
        }
        return output
    }
}
