/// Writes `.vqc` files (`Formats/vqc.md` §6).
public enum VQCWriter {
    /// The bytes of a `.vqc` file holding `tileStreams` (one per tile, raster order, as laid out by
    /// ``VQCHeaderFields/latentRect(ofTile:)``) under a header made of `fields`.
    ///
    /// Validates `fields` with the reader's rules and `limits` and throws what a reader would,
    /// so it never produces a file the reader (with the same limits) refuses: an empty stream gives
    /// ``ContainerError/emptyTile(tile:)``, a stream of 2^32 bytes or more
    /// ``ContainerError/limitExceeded(_:value:limit:)`` for ``VQCField/tileLength``.
    /// - Precondition: `tileStreams.count == fields.tileCount` once the fields are valid.
    public static func encode(_ fields: VQCHeaderFields, tileStreams: [[UInt8]],
                              limits: ContainerLimits = ContainerLimits()) throws(ContainerError) -> [UInt8] {
        let raw = fields.raw
        let tileCount = try raw.validate(limits)
        precondition(tileStreams.count == tileCount,
                     "\(tileStreams.count) tile streams given for a header with \(tileCount) tiles")
        for (index, stream) in tileStreams.enumerated() {
            guard !stream.isEmpty else { throw .emptyTile(tile: index) }
            guard stream.count <= Int(UInt32.max) else {
                throw .limitExceeded(.tileLength, value: UInt64(stream.count), limit: UInt64(UInt32.max))
            }
        }
        let headerEnd = Layout.headerByteCount(nameLength: raw.modelName.count, tileCount: tileCount)
        let payload = tileStreams.reduce(0) { $0 + $1.count }

        var out: [UInt8] = []
        out.reserveCapacity(headerEnd + payload)
        out += vqcSignature
        out.appendLittleEndian(UInt64(VQCHeader.currentVersion), count: 2)
        out.appendLittleEndian(raw.flags, count: 2)
        out.appendLittleEndian(raw.width, count: 4)
        out.appendLittleEndian(raw.height, count: 4)
        out.appendLittleEndian(raw.colorType, count: 1)
        out.appendLittleEndian(raw.bitDepth, count: 1)
        out.appendLittleEndian(raw.stride, count: 1)
        out.appendLittleEndian(raw.groups, count: 1)
        out.appendLittleEndian(raw.codebookSize, count: 2)
        out.appendLittleEndian(raw.latentHeight, count: 4)
        out.appendLittleEndian(raw.latentWidth, count: 4)
        out.appendLittleEndian(raw.tileHeight, count: 4)
        out.appendLittleEndian(raw.tileWidth, count: 4)
        out.appendLittleEndian(raw.modelChecksum, count: 8)
        out.appendLittleEndian(UInt64(raw.modelName.count), count: 1)
        out += raw.modelName
        assert(out.count == Layout.modelName + raw.modelName.count)
        out.appendLittleEndian(UInt64(crc32(out)), count: 4)

        var offset = headerEnd
        for stream in tileStreams {
            out.appendLittleEndian(UInt64(offset), count: 8)
            out.appendLittleEndian(UInt64(stream.count), count: 4)
            out.appendLittleEndian(UInt64(crc32(stream)), count: 4)
            offset += stream.count
        }
        out.appendLittleEndian(UInt64(crc32(out)), count: 4)
        assert(out.count == headerEnd)
        for stream in tileStreams { out += stream }
        assert((try? VQCFile(bytes: out, limits: limits))?.header.fields == fields, "the reader must accept what the writer writes")
        return out
    }
}
