/// A whole progressive (version-2) `.vqc` file in memory, its header validated and its size checked
/// against the stream table (`Formats/vqc.md` §8.4). Stream CRCs are checked when a stream is read,
/// so streams can be decoded in parallel and a damaged one does not stop the others.
///
/// Besides the strict reader, ``init(bytes:stages:limits:)`` reads the first stages of a file whose
/// later stages are missing or damaged, ``readIntactStages(from:limits:)`` finds how many leading
/// stages survived, and ``truncated(toStages:)`` cuts a file to a lower quality level.
public struct ProgressiveVQCFile: Sendable {
    /// The validated header.
    public let header: ProgressiveVQCHeader
    /// The file's bytes.
    public let bytes: [UInt8]
    /// The limits the file was read with, which its truncations are read with too.
    public let limits: ContainerLimits

    /// Parses `bytes`, the whole file. Throws the first problem found, in the order of `Formats/vqc.md`
    /// §8.4: a file cut short anywhere gives ``ContainerError/truncatedHeader(needed:present:)`` or
    /// ``ContainerError/truncatedStream(stage:tile:expectedEnd:fileSize:)``; extra bytes after the last
    /// stream give ``ContainerError/trailingBytes(expectedSize:fileSize:)``.
    public init(bytes: [UInt8], limits: ContainerLimits = ContainerLimits()) throws(ContainerError) {
        let header = try ProgressiveVQCHeader.read(from: bytes, limits: limits)
        for (stage, entries) in header.streams.enumerated() {
            if let tile = entries.firstIndex(where: { $0.end > bytes.count }) {
                throw .truncatedStream(stage: stage + 1, tile: tile, expectedEnd: entries[tile].end, fileSize: bytes.count)
            }
        }
        let end = header.fileByteCount
        guard end == bytes.count else { throw .trailingBytes(expectedSize: end, fileSize: bytes.count) }
        self.header = header
        self.bytes = bytes
        self.limits = limits
    }

    /// Reads stages 1 … `stages` of `bytes` and returns them as the file an encoder writes with that
    /// many stages (what ``truncated(toStages:)`` of the intact file gives, byte for byte). Whatever
    /// lies after them is ignored: later stages' sections, streams missing from a file cut short, or
    /// trailing bytes.
    ///
    /// The whole header must be present (the payload starts after it) and valid up to the stages asked
    /// for; their streams must be present. Throws ``ContainerError/stageNotPresent(requested:present:)``
    /// when the file holds fewer stages, or the first problem in the preamble, in the sections of the
    /// stages asked for (``ContainerError/stageTableCRCMismatch(stage:stored:computed:)``, …) or in
    /// their extent (``ContainerError/truncatedStream(stage:tile:expectedEnd:fileSize:)``). As with
    /// ``init(bytes:limits:)``, stream CRCs are checked when a stream is read.
    public init(bytes: [UInt8], stages: Int, limits: ContainerLimits = ContainerLimits()) throws(ContainerError) {
        let preamble = try ProgressivePreamble(bytes, limits: limits)
        guard (1...preamble.stageCount).contains(stages) else {
            throw .stageNotPresent(requested: stages, present: preamble.stageCount)
        }
        let (_, entries) = try preamble.readStages(stages, from: bytes, limits: limits)
        for (stage, table) in entries.enumerated() {
            if let tile = table.firstIndex(where: { preamble.headerEnd + $0.end > bytes.count }) {
                throw .truncatedStream(stage: stage + 1, tile: tile, expectedEnd: preamble.headerEnd + table[tile].end,
                                       fileSize: bytes.count)
            }
        }
        try self.init(bytes: Self.cut(bytes, preamble: preamble, toStages: stages, payloadEnd: entries.last!.last!.end),
                      limits: limits)
    }

    /// Reads as many leading stages of `bytes` as are intact: stages 1 … k whose sections and every
    /// stream are present and pass their CRCs, stopping at the first stage that does not. Returns
    /// them as a k-stage file (``init(bytes:stages:limits:)``) and the problem that stopped the
    /// reading (nil when every stage is intact and the file has no trailing bytes). This is what a
    /// decoder wants from a file cut short in transfer: a file cut inside stage 3 gives stages 1–2
    /// and ``ContainerError/truncatedStream(stage:tile:expectedEnd:fileSize:)`` for stage 3.
    ///
    /// Throws when not even stage 1 is intact, or the preamble is not (the error of
    /// ``init(bytes:limits:)`` for the same damage).
    public static func readIntactStages(from bytes: [UInt8], limits: ContainerLimits = ContainerLimits())
        throws(ContainerError) -> (file: ProgressiveVQCFile, problem: ContainerError?) {
        let preamble = try ProgressivePreamble(bytes, limits: limits)
        var payloadEnd: UInt64 = 0
        var totalGroups: UInt64 = 0
        var intact = 0
        var problem: ContainerError?
        stages: for stage in 1...preamble.stageCount {
            do throws(ContainerError) {
                let (_, table) = try preamble.readStage(stage, from: bytes, payloadEnd: &payloadEnd,
                                                        totalGroups: &totalGroups, limits: limits)
                for (tile, entry) in table.enumerated() {
                    let index = VQCStreamIndex(stage: stage, tile: tile)
                    if let damage = ProgressiveVQCHeader.check(entry.shifted(by: preamble.headerEnd), index, in: bytes) {
                        throw damage
                    }
                }
                intact = stage
            } catch {
                problem = error
                break stages
            }
        }
        guard intact > 0 else { throw problem! }
        let end = preamble.headerEnd + Int(payloadEnd)
        if intact == preamble.stageCount && end != bytes.count {
            problem = .trailingBytes(expectedSize: end, fileSize: bytes.count)
        }
        if intact == preamble.stageCount && problem == nil { return (try ProgressiveVQCFile(bytes: bytes, limits: limits), nil) }
        return (try ProgressiveVQCFile(bytes: bytes, stages: intact, limits: limits), problem)
    }

    /// The range-coder stream of stage `stage` (1 … stage count), tile `tile` (0 ..< tile count), after
    /// checking its CRC-32. Throws ``ContainerError/streamCRCMismatch(stage:tile:stored:computed:)``
    /// when that stream is damaged.
    public func stream(stage: Int, tile: Int) throws(ContainerError) -> ArraySlice<UInt8> {
        let entry = header.stream(stage: stage, tile: tile)
        if let problem = ProgressiveVQCHeader.check(entry, VQCStreamIndex(stage: stage, tile: tile), in: bytes) {
            throw problem
        }
        return bytes[entry.offset..<entry.end]
    }

    /// Checks every stream's CRC-32; returns the damaged streams' errors (empty when all are intact).
    public func verifyAllStreams() -> [VQCStreamIndex: ContainerError] {
        header.verifyStreams(in: bytes)
    }

    /// This file cut to its first `stages` stages: a lower quality level, byte for byte the file an
    /// encoder writes directly with those stages (`Formats/vqc.md` §8.3). The header keeps its
    /// fields, stage sections and their CRCs; only the stage count and the preamble CRC change, and
    /// the streams of the later stages are dropped. `stages == header.stageCount` gives the file itself.
    ///
    /// Throws ``ContainerError/stageNotPresent(requested:present:)`` unless `1 ≤ stages ≤ header.stageCount`.
    public func truncated(toStages stages: Int) throws(ContainerError) -> ProgressiveVQCFile {
        guard (1...header.stageCount).contains(stages) else {
            throw .stageNotPresent(requested: stages, present: header.stageCount)
        }
        if stages == header.stageCount { return self }
        let preamble = try ProgressivePreamble(bytes, limits: limits)  // read before: cannot fail
        let payloadEnd = header.streams[stages - 1].last!.end - header.headerByteCount
        return try ProgressiveVQCFile(bytes: Self.cut(bytes, preamble: preamble, toStages: stages, payloadEnd: payloadEnd),
                                      limits: limits)
    }

    /// The bytes of the file cut to `stages` stages whose streams end at `payloadEnd` (from the start of
    /// the payload): the preamble with the new stage count and CRC, the first sections as they are,
    /// the first streams as they are. The caller checked the preamble and those sections.
    static func cut(_ bytes: [UInt8], preamble: ProgressivePreamble, toStages stages: Int, payloadEnd: Int) -> [UInt8] {
        let sectionsEnd = preamble.sectionStart(stages + 1)
        var out: [UInt8] = []
        out.reserveCapacity(sectionsEnd + payloadEnd)
        out += bytes[0..<preamble.preambleEnd]
        out[ProgressiveLayout.stageCount] = UInt8(stages)
        out.appendLittleEndian(UInt64(crc32(out)), count: 4)
        out += bytes[preamble.sectionsStart..<sectionsEnd]
        out += bytes[preamble.headerEnd..<(preamble.headerEnd + payloadEnd)]
        return out
    }
}
