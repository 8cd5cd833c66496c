extension VQCHeader {
    /// Parses and validates the header at the start of `bytes` (`Formats/vqc.md` §4 steps 1–8).
    ///
    /// `bytes` may be the whole file or only its beginning: the tile streams are neither needed nor
    /// checked (use ``VQCFile`` for that). When `bytes` ends inside the header the error is
    /// ``ContainerError/truncatedHeader(needed:present:)``, never a damage error, and `needed` is the
    /// number of bytes the next step needs: reading that many and calling again always makes progress.
    /// Nothing is allocated from a size before the size has been checked against `limits` and
    /// against `bytes.count`.
    public static func read(from bytes: [UInt8], limits: ContainerLimits = ContainerLimits()) throws(ContainerError) -> VQCHeader {
        let present = bytes.count

        // 1. Signature, 2. version (shared with version 2).
        let version = try VQCFormat.readSignatureAndVersion(bytes)
        guard version == currentVersion else { throw .unsupportedVersion(found: version, supported: currentVersion) }

        // 3. Name length, which places the preamble CRC.
        guard present >= Layout.modelName else { throw .truncatedHeader(needed: Layout.modelName, present: present) }
        let nameLength = Int(bytes[Layout.modelNameLength])
        guard (1...Layout.maxModelNameBytes).contains(nameLength) else {
            throw .invalidField(.modelNameLength, found: UInt64(nameLength), allowed: "1 to 64")
        }

        // 4. Preamble CRC: after it, the fields that size the header can be trusted.
        let preambleEnd = Layout.modelName + nameLength
        guard present >= preambleEnd + 4 else { throw .truncatedHeader(needed: preambleEnd + 4, present: present) }
        try checkCRC(of: bytes[0..<preambleEnd], storedAt: preambleEnd, in: bytes)

        // 5. Fields.
        func field(_ offset: Int, _ count: Int) -> UInt64 { bytes.littleEndian(at: offset, count: count) }
        let raw = RawFields(
            flags: field(Layout.flags, 2), width: field(Layout.width, 4), height: field(Layout.height, 4),
            colorType: field(Layout.colorType, 1), bitDepth: field(Layout.bitDepth, 1),
            stride: field(Layout.stride, 1), groups: field(Layout.groups, 1),
            codebookSize: field(Layout.codebookSize, 2),
            latentHeight: field(Layout.latentHeight, 4), latentWidth: field(Layout.latentWidth, 4),
            tileHeight: field(Layout.tileHeight, 4), tileWidth: field(Layout.tileWidth, 4),
            modelChecksum: field(Layout.modelChecksum, 8),
            modelName: Array(bytes[Layout.modelName..<preambleEnd]))
        let tileCount = try raw.validate(limits)

        // 6. The tile table must be present before anything is allocated for it.
        let headerEnd = Layout.headerByteCount(nameLength: nameLength, tileCount: tileCount)
        guard present >= headerEnd else { throw .truncatedHeader(needed: headerEnd, present: present) }

        // 7. Header CRC.
        try checkCRC(of: bytes[0..<headerEnd - 4], storedAt: headerEnd - 4, in: bytes)

        // 8. Tile table: contiguous, non-empty streams starting right after the header.
        var tiles: [TileEntry] = []
        tiles.reserveCapacity(tileCount)  // ≤ present / 16, checked in step 6
        var expectedOffset = UInt64(headerEnd)
        for index in 0..<tileCount {
            let entry = preambleEnd + 4 + index * Layout.tileEntryBytes
            let offset = field(entry, 8)
            let length = field(entry + 8, 4)
            guard offset == expectedOffset else {
                throw .inconsistentTileTable(tile: index, expectedOffset: expectedOffset, foundOffset: offset)
            }
            guard length > 0 else { throw .emptyTile(tile: index) }
            expectedOffset = offset + length  // offset < 2^63, length < 2^32: no overflow
            guard expectedOffset <= UInt64(Int.max) else {
                throw .limitExceeded(.fileSize, value: expectedOffset, limit: UInt64(Int.max))
            }
            tiles.append(TileEntry(offset: Int(offset), length: Int(length), crc32: UInt32(field(entry + 12, 4))))
        }

        let fields = VQCHeaderFields(
            width: Int(raw.width), height: Int(raw.height),
            colorType: VQCColorType(rawValue: UInt8(raw.colorType))!,  // validated: 1 or 3
            bitDepth: Int(raw.bitDepth),
            modelName: String(decoding: raw.modelName, as: UTF8.self),  // validated: printable ASCII
            modelChecksum: raw.modelChecksum,
            latent: LatentGeometry(height: Int(raw.latentHeight), width: Int(raw.latentWidth), groups: Int(raw.groups),
                                   codebookSize: Int(raw.codebookSize), stride: Int(raw.stride)),
            tileSize: TileSize(height: Int(raw.tileHeight), width: Int(raw.tileWidth)))
        return VQCHeader(fields: fields, tiles: tiles)
    }

    static func checkCRC(of covered: ArraySlice<UInt8>, storedAt offset: Int, in bytes: [UInt8]) throws(ContainerError) {
        let stored = UInt32(bytes.littleEndian(at: offset, count: 4))
        let computed = crc32(covered)
        guard stored == computed else { throw .headerCRCMismatch(stored: stored, computed: computed) }
    }
}
