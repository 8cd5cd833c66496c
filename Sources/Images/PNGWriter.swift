// Writing PNG files: filtering in Swift, compression through zlib. Every call into zlib in this
// module lives in this file (libpng, used for reading, stays in LibPNG.swift).
//
// The file is what libpng's writer makes of an 8-bit gray or RGB image (IHDR, sRGB, IDAT...,
// IEND; per-row adaptive filters chosen by the smallest sum of absolute filtered values, as libpng
// chooses them), with two differences that make it fast on several cores:
// - the rows are filtered and compressed in pieces of about `pieceBytes` (whole rows; how many
//   rows a piece holds depends only on the image's width, so the bytes never depend on the number
//   of cores), each a raw deflate stream primed with the 32 KiB of filtered data before it and
//   ended by a sync flush, the pieces joined into one zlib stream (the way pigz compresses): a
//   piece costs a few bytes more than one stream would, all pieces compress at once, and no
//   filtered copy of the whole image is ever held (each piece is one IDAT chunk);
// - the zlib level is the caller's (``PNGCompression``), 6 being zlib's and libpng's default.
import CZlib
import Dispatch

/// How hard the PNG writer compresses: a zlib level from 0 (stored, fastest, largest) to 9
/// (slowest, smallest). Pixels are the same at every level; only the file size and the time
/// to write it change.
public struct PNGCompression: Sendable, Equatable {
    /// The zlib level, 0...9.
    public let level: Int

    /// `nil` unless `level` is in 0...9.
    public init?(level: Int) {
        guard (0...9).contains(level) else { return nil }
        self.level = level
    }

    /// The level vqcodec writes with unless told otherwise: zlib's (and libpng's) default, 6.
    /// On the 24 Kodak photos decoded at level 4, 0.1 % smaller than libpng's files; level 2
    /// writes them 7 % larger in about half the time (docs/performance.md).
    public static let `default` = PNGCompression(level: 6)!
    /// Level 9: the smallest files zlib makes.
    public static let smallest = PNGCompression(level: 9)!
}

enum PNGWriter {
    /// Filtered bytes compressed as one piece, at least (pigz's block size); whole rows.
    static let pieceBytes = 128 * 1024
    /// The dictionary a piece is primed with: deflate's whole window.
    static let windowBytes = 32 * 1024

    /// Rows per piece for rows of `rowBytes` bytes (plus the filter-type byte).
    static func rowsPerPiece(rowBytes: Int) -> Int { max(1, pieceBytes / (rowBytes + 1)) }

    /// Encodes 8-bit gray (`channels` 1) or RGB (`channels` 3) samples, interleaved row-major.
    /// The bytes depend only on the samples and `compression`.
    static func encode(width: Int, height: Int, channels: Int, samples: [UInt8],
                       compression: PNGCompression) throws(ImageError) -> [UInt8] {
        precondition(channels == 1 || channels == 3)
        precondition(width >= 1 && height >= 1 && samples.count == width * height * channels)
        guard let w = UInt32(exactly: width), w <= 0x7FFF_FFFF, let h = UInt32(exactly: height), h <= 0x7FFF_FFFF else {
            throw .encodingFailed(message: "a \(width)x\(height) image is too large for PNG")
        }
        let rowBytes = width * channels
        // zlib counts a call's input and output in 32 bits; a piece holds at least one row.
        guard rowBytes < 1 << 30 else {
            throw .encodingFailed(message: "rows of \(rowBytes) bytes (\(width) pixels) are too long to compress")
        }
        let rowsPerPiece = rowsPerPiece(rowBytes: rowBytes)
        let pieceCount = (height + rowsPerPiece - 1) / rowsPerPiece
        var results = [Result<Piece, ZlibFailure>?](repeating: nil, count: pieceCount)
        samples.withUnsafeBufferPointer { source in
            results.withUnsafeMutableBufferPointer { results in
                let src = UncheckedSendable(source.baseAddress!)
                let slots = UncheckedSendable(results.baseAddress!)
                DispatchQueue.concurrentPerform(iterations: pieceCount) { index in
                    let rows = (index * rowsPerPiece)..<min(height, (index + 1) * rowsPerPiece)
                    slots.value[index] = compressPiece(rows: rows, last: index == pieceCount - 1, rowBytes: rowBytes,
                                                       bpp: channels, samples: src.value, level: compression.level)
                }
            }
        }
        var pieces: [Piece?] = []
        pieces.reserveCapacity(pieceCount)
        for result in results {
            switch result! {
            case .success(let piece): pieces.append(piece)
            case .failure(let failure): throw .encodingFailed(message: "zlib failed with code \(failure.code)")
            }
        }
        results = []

        // The zlib header (deflate, 32 KiB window; FLEVEL says how hard the compressor tried)
        // opens the first IDAT chunk; the Adler-32 of all filtered data closes the last.
        let cmf: UInt8 = 0x78
        var flg: UInt8 = (compression.level < 2 ? 0 : compression.level < 6 ? 1 : compression.level == 6 ? 2 : 3) << 6
        flg += UInt8(31 - (Int(cmf) * 256 + Int(flg)) % 31) % 31
        var adler = UInt(pieces[0]!.adler)
        for piece in pieces.dropFirst() {
            adler = UInt(adler32_combine(uLong(adler), uLong(piece!.adler), .init(piece!.inputBytes)))
        }
        var trailer = [UInt8]()
        appendBigEndian(UInt32(adler), to: &trailer)

        var file = PNG.signature
        file.reserveCapacity(pieces.reduce(64) { $0 + $1!.bytes.count + 12 } + 6)
        var header = [UInt8]()
        appendBigEndian(w, to: &header)
        appendBigEndian(h, to: &header)
        header += [8, channels == 3 ? 2 : 0, 0, 0, 0]   // 8 bits, gray or RGB, deflate, adaptive filters, no interlacing
        appendChunk("IHDR", [header], to: &file)
        appendChunk("sRGB", [[0]], to: &file)           // perceptual rendering intent, as libpng writes it
        for index in pieces.indices {
            let piece = pieces[index]!.bytes
            pieces[index] = nil   // at most one copy of the compressed data at any time
            appendChunk("IDAT", [index == 0 ? [cmf, flg] : [], piece, index == pieceCount - 1 ? trailer : []], to: &file)
        }
        appendChunk("IEND", [], to: &file)
        return file
    }

    /// One piece: its raw deflate bytes, the Adler-32 of its filtered data and that data's size.
    struct Piece {
        let bytes: [UInt8]
        let adler: UInt
        let inputBytes: Int
    }

    /// Filters `rows` and the rows before them whose filtered bytes prime the dictionary, and
    /// compresses `rows` as a raw deflate stream ended by a sync flush (byte-aligned, not final)
    /// unless it is the `last` piece.
    static func compressPiece(rows: Range<Int>, last: Bool, rowBytes: Int, bpp: Int, samples: UnsafePointer<UInt8>,
                              level: Int) -> Result<Piece, ZlibFailure> {
        let stride = rowBytes + 1
        let firstRow = max(0, rows.lowerBound - (windowBytes + stride - 1) / stride)
        var filtered = [UInt8](repeating: 0, count: (rows.upperBound - firstRow) * stride)
        var scratch = [UInt8](repeating: 0, count: 4 * rowBytes)
        filtered.withUnsafeMutableBufferPointer { target in
            scratch.withUnsafeMutableBufferPointer { scratch in
                for y in firstRow..<rows.upperBound {
                    filterRow(y: y, rowBytes: rowBytes, bpp: bpp, samples: samples,
                              into: target.baseAddress! + (y - firstRow) * stride, scratch: scratch.baseAddress!)
                }
            }
        }
        let start = (rows.lowerBound - firstRow) * stride
        return filtered.withUnsafeBufferPointer { data -> Result<Piece, ZlibFailure> in
            let input = UnsafeBufferPointer(rebasing: data[start...])
            let dictionary = UnsafeBufferPointer(rebasing: data[max(0, start - windowBytes)..<start])
            return deflateRaw(input, dictionary: dictionary, last: last, level: level).map { bytes in
                Piece(bytes: bytes, adler: UInt(adler32(adler32(0, nil, 0), input.baseAddress, uInt(input.count))),
                      inputBytes: input.count)
            }
        }
    }

    // MARK: Filtering

    /// Writes row `y`'s filter type and filtered bytes at `target` (`rowBytes + 1` bytes).
    /// `scratch` holds 4 × `rowBytes` bytes.
    private static func filterRow(y: Int, rowBytes: Int, bpp: Int, samples: UnsafePointer<UInt8>,
                                  into target: UnsafeMutablePointer<UInt8>, scratch: UnsafeMutablePointer<UInt8>) {
        let row = samples + y * rowBytes
        let sub = scratch, up = scratch + rowBytes, average = scratch + 2 * rowBytes, paeth = scratch + 3 * rowBytes
        if y == 0 {
            // The row above is all zeros: up is none, average and Paeth reduce to half-left and left.
            for i in 0..<rowBytes {
                let x = row[i], a = i >= bpp ? row[i - bpp] : 0
                sub[i] = x &- a
                up[i] = x
                average[i] = x &- a >> 1
                paeth[i] = x &- a
            }
        } else {
            let prior = row - rowBytes
            for i in 0..<bpp {
                let x = row[i], b = prior[i]
                sub[i] = x
                up[i] = x &- b
                average[i] = x &- b >> 1
                paeth[i] = x &- b
            }
            // One simple loop per filter, so that the compiler vectorises each.
            for i in bpp..<max(bpp, rowBytes) { sub[i] = row[i] &- row[i - bpp] }
            for i in bpp..<max(bpp, rowBytes) { up[i] = row[i] &- prior[i] }
            for i in bpp..<max(bpp, rowBytes) {
                average[i] = row[i] &- UInt8(truncatingIfNeeded: (UInt16(row[i - bpp]) &+ UInt16(prior[i])) >> 1)
            }
            for i in bpp..<max(bpp, rowBytes) {
                let a = Int16(row[i - bpp]), b = Int16(prior[i]), c = Int16(prior[i - bpp])
                // p = a + b − c; |p − a| = |b − c|, |p − b| = |a − c|, |p − c| = |a + b − 2c|.
                let bc = b &- c, ac = a &- c, abc = bc &+ ac
                let pa = bc < 0 ? 0 &- bc : bc, pb = ac < 0 ? 0 &- ac : ac, pc = abc < 0 ? 0 &- abc : abc
                let predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c
                paeth[i] = row[i] &- UInt8(truncatingIfNeeded: predictor)
            }
        }
        let sums = (magnitudeSum(row, rowBytes), magnitudeSum(sub, rowBytes), magnitudeSum(up, rowBytes),
                    magnitudeSum(average, rowBytes), magnitudeSum(paeth, rowBytes))
        var best = 0, bestSum = sums.0
        if sums.1 < bestSum { best = 1; bestSum = sums.1 }
        if sums.2 < bestSum { best = 2; bestSum = sums.2 }
        if sums.3 < bestSum { best = 3; bestSum = sums.3 }
        if sums.4 < bestSum { best = 4; bestSum = sums.4 }
        target[0] = UInt8(best)
        let chosen: UnsafePointer<UInt8> = best == 0 ? row : UnsafePointer(scratch + (best - 1) * rowBytes)
        (target + 1).update(from: chosen, count: rowBytes)
    }

    /// The sum of |v| over `count` bytes read as signed (libpng's measure of a filtered row).
    @inline(__always)
    private static func magnitudeSum(_ bytes: UnsafePointer<UInt8>, _ count: Int) -> Int {
        var total = 0
        var start = 0
        while start < count {
            let end = min(count, start + 1 << 16)
            var sum: UInt32 = 0   // at most 128 per byte: 2^16 bytes cannot overflow it
            for i in start..<end {
                let v = bytes[i]
                sum &+= UInt32(v < 128 ? v : 0 &- v)
            }
            total += Int(sum)
            start = end
        }
        return total
    }

    // MARK: Compression

    /// A raw deflate stream of `input`, primed with `dictionary`, ended by a sync flush
    /// (byte-aligned, not final) unless it is the `last` piece.
    private static func deflateRaw(_ input: UnsafeBufferPointer<UInt8>, dictionary: UnsafeBufferPointer<UInt8>,
                                   last: Bool, level: Int) -> Result<[UInt8], ZlibFailure> {
        var stream = z_stream()
        // Raw deflate (negative window bits), memory level 8 and the filtered-data strategy: libpng's settings.
        var code = deflateInit2_(&stream, Int32(level), Z_DEFLATED, -15, 8, Z_FILTERED,
                                 ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard code == Z_OK else { return .failure(ZlibFailure(code: code)) }
        defer { deflateEnd(&stream) }
        if !dictionary.isEmpty {
            code = deflateSetDictionary(&stream, dictionary.baseAddress, uInt(dictionary.count))
            guard code == Z_OK else { return .failure(ZlibFailure(code: code)) }
        }
        var output = [UInt8](repeating: 0, count: Int(deflateBound(&stream, uLong(input.count))) + 64)
        var produced = 0
        stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
        stream.avail_in = uInt(input.count)
        let flush = last ? Z_FINISH : Z_SYNC_FLUSH
        while true {
            if produced == output.count { output += [UInt8](repeating: 0, count: max(4096, output.count / 2)) }
            code = output.withUnsafeMutableBufferPointer { buffer -> Int32 in
                stream.next_out = buffer.baseAddress! + produced
                stream.avail_out = uInt(buffer.count - produced)
                let code = deflate(&stream, flush)
                produced = buffer.count - Int(stream.avail_out)
                return code
            }
            if last {
                if code == Z_STREAM_END { break }
                guard code == Z_OK || code == Z_BUF_ERROR else { return .failure(ZlibFailure(code: code)) }
            } else {
                guard code == Z_OK || code == Z_BUF_ERROR else { return .failure(ZlibFailure(code: code)) }
                // A sync flush is complete once input is used up and output space is left over.
                if stream.avail_in == 0 && stream.avail_out > 0 { break }
            }
        }
        // A copy of the size produced: the buffer has room for incompressible input, and the
        // pieces of a large image wait for one another, so they should hold only their bytes.
        return .success(Array(output[..<produced]))
    }

    // MARK: Chunks

    /// Appends a chunk whose body is `parts` joined.
    private static func appendChunk(_ type: String, _ parts: [[UInt8]], to file: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        appendBigEndian(UInt32(parts.reduce(0) { $0 + $1.count }), to: &file)
        file += typeBytes
        var crc = typeBytes.withUnsafeBufferPointer { crc32(0, $0.baseAddress, uInt($0.count)) }
        for part in parts where !part.isEmpty {
            file += part
            crc = part.withUnsafeBufferPointer { crc32(crc, $0.baseAddress, uInt($0.count)) }
        }
        appendBigEndian(UInt32(crc), to: &file)
    }

    private static func appendBigEndian(_ value: UInt32, to bytes: inout [UInt8]) {
        bytes += [UInt8(value >> 24), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
    }
}

/// A zlib return code other than success.
struct ZlibFailure: Error {
    let code: Int32
}

/// A pointer handed to `concurrentPerform`'s workers, each of which touches its own part.
private struct UncheckedSendable<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
