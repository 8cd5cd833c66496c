extension VQCWriter {
    /// The bytes of a progressive (version-2) `.vqc` file (`Formats/vqc.md` §8.5) holding, for each
    /// stage of `fields.stages`, one stream per tile: `stageStreams[k - 1][i]` is stage k's stream of
    /// tile i (raster order, as laid out by ``ProgressiveVQCHeaderFields/latentRect(ofTile:)``).
    /// The file is built whole in memory and returned only when complete: nothing partial is ever
    /// produced.
    ///
    /// Validates `fields` with the reader's rules and `limits` and throws what a reader would, so it
    /// never produces a file the reader (with the same limits) refuses: an empty stream gives
    /// ``ContainerError/emptyStream(stage:tile:)``, a stream of 2^32 bytes or more
    /// ``ContainerError/limitExceeded(_:value:limit:)`` for ``VQCField/tileLength``. Writing the first k
    /// stages gives the same bytes as ``ProgressiveVQCFile/truncated(toStages:)`` of the full file.
    /// - Precondition: `stageStreams.count == fields.stageCount` and each holds `fields.tileCount`
    ///   streams, once the fields are valid.
    public static func encode(_ fields: ProgressiveVQCHeaderFields, stageStreams: [[[UInt8]]],
                              limits: ContainerLimits = ContainerLimits()) throws(ContainerError) -> [UInt8] {
        try fields.validate(limits: limits)
        let raw = fields.raw
        let tileCount = fields.tileCount
        precondition(stageStreams.count == fields.stageCount,
                     "\(stageStreams.count) stages of streams given for a header with \(fields.stageCount) stages")
        for (stage, streams) in stageStreams.enumerated() {
            precondition(streams.count == tileCount,
                         "stage \(stage + 1): \(streams.count) streams given for a header with \(tileCount) tiles")
            for (tile, stream) in streams.enumerated() {
                guard !stream.isEmpty else { throw .emptyStream(stage: stage + 1, tile: tile) }
                guard stream.count <= Int(UInt32.max) else {
                    throw .limitExceeded(.tileLength, value: UInt64(stream.count), limit: UInt64(UInt32.max))
                }
            }
        }
        let headerEnd = fields.headerByteCount
        let payload = stageStreams.reduce(0) { $0 + $1.reduce(0) { $0 + $1.count } }

        var out: [UInt8] = []
        out.reserveCapacity(headerEnd + payload)
        out += vqcSignature
        out.appendLittleEndian(UInt64(ProgressiveVQCHeader.currentVersion), count: 2)
        out.appendLittleEndian(raw.flags, count: 2)
        out.appendLittleEndian(raw.width, count: 4)
        out.appendLittleEndian(raw.height, count: 4)
        out.appendLittleEndian(raw.colorType, count: 1)
        out.appendLittleEndian(raw.bitDepth, count: 1)
        out.appendLittleEndian(raw.stride, count: 1)
        out.appendLittleEndian(raw.stageCount, count: 1)
        out.appendLittleEndian(raw.latentHeight, count: 4)
        out.appendLittleEndian(raw.latentWidth, count: 4)
        out.appendLittleEndian(raw.tileHeight, count: 4)
        out.appendLittleEndian(raw.tileWidth, count: 4)
        out.appendLittleEndian(raw.modelChecksum, count: 8)
        out.appendLittleEndian(UInt64(raw.modelName.count), count: 1)
        out += raw.modelName
        assert(out.count == ProgressiveLayout.modelName + raw.modelName.count)
        out.appendLittleEndian(UInt64(crc32(out)), count: 4)

        for (stage, streams) in zip(fields.stages, stageStreams) {
            let sectionStart = out.count
            out.appendLittleEndian(UInt64(stage.groups), count: 1)
            out.appendLittleEndian(UInt64(stage.codebookSize), count: 2)
            for stream in streams {  // contiguous streams: the lengths place them, no offsets are stored
                out.appendLittleEndian(UInt64(stream.count), count: 4)
                out.appendLittleEndian(UInt64(crc32(stream)), count: 4)
            }
            out.appendLittleEndian(UInt64(crc32(out[sectionStart...])), count: 4)
        }
        assert(out.count == headerEnd)
        for streams in stageStreams { for stream in streams { out += stream } }
        assert((try? ProgressiveVQCFile(bytes: out, limits: limits))?.header.fields == fields,
               "the reader must accept what the writer writes")
        return out
    }
}
