/// A version-2 header's preamble, read and checked (`Formats/vqc.md` §8.4 steps 1–6): the bytes
/// hold the whole header, so every stage section can be located, none of them checked yet.
struct ProgressivePreamble {
    let raw: RawProgressiveFields
    let nameLength: Int
    let stageCount: Int
    let tileCount: Int

    /// Where the preamble CRC is (the preamble's fields end here).
    var preambleEnd: Int { ProgressiveLayout.modelName + nameLength }
    /// Where stage 1's section starts.
    var sectionsStart: Int { preambleEnd + 4 }
    var sectionByteCount: Int { ProgressiveLayout.stageSectionByteCount(tileCount: tileCount) }
    /// Where the payload starts.
    var headerEnd: Int { sectionsStart + stageCount * sectionByteCount }
    /// Where stage `stage`'s section starts.
    func sectionStart(_ stage: Int) -> Int { sectionsStart + (stage - 1) * sectionByteCount }

    /// Steps 1–6: signature, version, name length, preamble CRC, fields, and the whole header present.
    init(_ bytes: [UInt8], limits: ContainerLimits) throws(ContainerError) {
        let present = bytes.count
        let version = try VQCFormat.readSignatureAndVersion(bytes)
        guard version == ProgressiveVQCHeader.currentVersion else {
            throw .unsupportedVersion(found: version, supported: ProgressiveVQCHeader.currentVersion)
        }

        // 3. Name length, which places the preamble CRC.
        guard present >= ProgressiveLayout.modelName else {
            throw .truncatedHeader(needed: ProgressiveLayout.modelName, present: present)
        }
        nameLength = Int(bytes[ProgressiveLayout.modelNameLength])
        guard (1...Layout.maxModelNameBytes).contains(nameLength) else {
            throw .invalidField(.modelNameLength, found: UInt64(nameLength), allowed: "1 to 64")
        }

        // 4. Preamble CRC: after it, the fields that size the header (n, h, w, th, tw) can be trusted.
        let preambleEnd = ProgressiveLayout.modelName + nameLength
        guard present >= preambleEnd + 4 else { throw .truncatedHeader(needed: preambleEnd + 4, present: present) }
        try VQCHeader.checkCRC(of: bytes[0..<preambleEnd], storedAt: preambleEnd, in: bytes)

        // 5. Fields.
        func field(_ offset: Int, _ count: Int) -> UInt64 { bytes.littleEndian(at: offset, count: count) }
        raw = RawProgressiveFields(
            flags: field(Layout.flags, 2), width: field(Layout.width, 4), height: field(Layout.height, 4),
            colorType: field(Layout.colorType, 1), bitDepth: field(Layout.bitDepth, 1),
            stride: field(Layout.stride, 1), stageCount: field(ProgressiveLayout.stageCount, 1),
            latentHeight: field(ProgressiveLayout.latentHeight, 4), latentWidth: field(ProgressiveLayout.latentWidth, 4),
            tileHeight: field(ProgressiveLayout.tileHeight, 4), tileWidth: field(ProgressiveLayout.tileWidth, 4),
            modelChecksum: field(ProgressiveLayout.modelChecksum, 8),
            modelName: Array(bytes[ProgressiveLayout.modelName..<preambleEnd]))
        tileCount = try raw.validate(limits)
        stageCount = Int(raw.stageCount)

        // 6. Every stage section must be present before anything is allocated for one (n·T ≤ 2^32,
        //    8·n·T + 4 KiB < 2^63: no overflow).
        let headerEnd = ProgressiveLayout.headerByteCount(nameLength: nameLength, stageCount: stageCount, tileCount: tileCount)
        guard present >= headerEnd else { throw .truncatedHeader(needed: headerEnd, present: present) }
    }

    /// The header fields with the given stages.
    func fields(stages: [VQCStage]) -> ProgressiveVQCHeaderFields {
        ProgressiveVQCHeaderFields(
            width: Int(raw.width), height: Int(raw.height),
            colorType: VQCColorType(rawValue: UInt8(raw.colorType))!,  // validated: 1 or 3
            bitDepth: Int(raw.bitDepth),
            modelName: String(decoding: raw.modelName, as: UTF8.self),  // validated: printable ASCII
            modelChecksum: raw.modelChecksum, stride: Int(raw.stride),
            latentHeight: Int(raw.latentHeight), latentWidth: Int(raw.latentWidth),
            tileSize: TileSize(height: Int(raw.tileHeight), width: Int(raw.tileWidth)), stages: stages)
    }

    /// One stage section, checked (step 7): its CRC, its groups and codebook size, then its stream
    /// table. `payloadEnd` is where the previous stage's streams end, counted from the start of the
    /// payload, and becomes where this stage's end; `totalGroups` accumulates Σ G. Each stream starts
    /// where the one before it ends; the entries' offsets are returned from the start of the payload.
    func readStage(_ stage: Int, from bytes: [UInt8], payloadEnd: inout UInt64, totalGroups: inout UInt64,
                   limits: ContainerLimits) throws(ContainerError) -> (VQCStage, [TileEntry]) {
        let start = sectionStart(stage)
        let crcAt = start + sectionByteCount - 4
        let stored = UInt32(bytes.littleEndian(at: crcAt, count: 4))
        let computed = crc32(bytes[start..<crcAt])
        guard stored == computed else { throw .stageTableCRCMismatch(stage: stage, stored: stored, computed: computed) }

        let groups = bytes.littleEndian(at: start + ProgressiveLayout.stageGroups, count: 1)
        let codebookSize = bytes.littleEndian(at: start + ProgressiveLayout.stageCodebookSize, count: 2)
        try ProgressiveRules.checkStage(stage, groups: groups, codebookSize: codebookSize,
                                        totalGroups: &totalGroups, limits: limits)

        var entries: [TileEntry] = []
        entries.reserveCapacity(tileCount)  // the section is present: checked in step 6
        let fileLimit = UInt64(Int.max) - UInt64(headerEnd)
        for tile in 0..<tileCount {
            let entry = start + ProgressiveLayout.stageTable + tile * ProgressiveLayout.streamEntryBytes
            let offset = payloadEnd
            let length = bytes.littleEndian(at: entry + ProgressiveLayout.entryLength, count: 4)
            guard length > 0 else { throw .emptyStream(stage: stage, tile: tile) }
            payloadEnd = offset + length  // offset < 2^63 (checked for the entry before), length < 2^32: no overflow
            guard payloadEnd <= fileLimit else {
                throw .limitExceeded(.fileSize, value: UInt64(headerEnd) + payloadEnd, limit: UInt64(Int.max))
            }
            entries.append(TileEntry(offset: Int(offset), length: Int(length),
                                     crc32: UInt32(bytes.littleEndian(at: entry + ProgressiveLayout.entryCRC, count: 4))))
        }
        return (VQCStage(groups: Int(groups), codebookSize: Int(codebookSize)), entries)
    }

    /// Stages 1 … `count`, checked in order (step 7), with their entries' offsets from the start of the payload.
    func readStages(_ count: Int, from bytes: [UInt8], limits: ContainerLimits) throws(ContainerError)
        -> (stages: [VQCStage], entries: [[TileEntry]]) {
        var stages: [VQCStage] = []
        var entries: [[TileEntry]] = []
        var payloadEnd: UInt64 = 0
        var totalGroups: UInt64 = 0
        for stage in 1...count {
            let (codebook, table) = try readStage(stage, from: bytes, payloadEnd: &payloadEnd,
                                                  totalGroups: &totalGroups, limits: limits)
            stages.append(codebook)
            entries.append(table)
        }
        return (stages, entries)
    }
}

extension TileEntry {
    /// The entry moved by `delta` bytes (from payload-relative to file offsets).
    func shifted(by delta: Int) -> TileEntry { TileEntry(offset: offset + delta, length: length, crc32: crc32) }
}

extension ProgressiveVQCHeader {
    /// Parses and validates the header at the start of `bytes` (`Formats/vqc.md` §8.4 steps 1–7), every
    /// stage section included.
    ///
    /// `bytes` may be the whole file or only its beginning: the streams are neither needed nor checked
    /// (use ``ProgressiveVQCFile`` for that). When `bytes` ends inside the header the error is
    /// ``ContainerError/truncatedHeader(needed:present:)``, never a damage error, and `needed` is the
    /// number of bytes the next step needs. Nothing is allocated from a size before the size has been
    /// checked against `limits` and against `bytes.count`. A version-1 file gives
    /// ``ContainerError/unsupportedVersion(found:supported:)``: ask ``VQCFormat/version(of:)`` first.
    public static func read(from bytes: [UInt8], limits: ContainerLimits = ContainerLimits()) throws(ContainerError)
        -> ProgressiveVQCHeader {
        let preamble = try ProgressivePreamble(bytes, limits: limits)
        let (stages, entries) = try preamble.readStages(preamble.stageCount, from: bytes, limits: limits)
        return ProgressiveVQCHeader(fields: preamble.fields(stages: stages),
                                    streams: entries.map { $0.map { $0.shifted(by: preamble.headerEnd) } })
    }
}
