import Engine

/// Product-quantisation codebooks: `groups` independent codebooks of `codebookSize` vectors with
/// `dimension` components each. A latent map with `groups * dimension` channels is split into
/// `groups` channel groups; group `g` (channels `g*dimension ..< (g+1)*dimension`) is quantised
/// with codebook `g`.
///
/// Layout: `vectors[(g * codebookSize + k) * dimension + i]`, which is also the safetensors
/// tensor `codebook` of shape `[groups, codebookSize, dimension]`.
public struct Codebooks: Sendable, Equatable {
    public let groups: Int
    public let codebookSize: Int
    public let dimension: Int
    public var vectors: [Float]

    public init(groups: Int, codebookSize: Int, dimension: Int, vectors: [Float]) {
        precondition(groups > 0 && codebookSize > 1 && dimension > 0)
        precondition(vectors.count == groups * codebookSize * dimension,
                     "codebook needs \(groups * codebookSize * dimension) values, got \(vectors.count)")
        self.groups = groups
        self.codebookSize = codebookSize
        self.dimension = dimension
        self.vectors = vectors
    }

    /// Channels of the latent map this codebook quantises.
    public var channels: Int { groups * dimension }

    /// The index of the codebook vector nearest (squared Euclidean distance) to each latent vector.
    ///
    /// - Parameter latent: `[N, groups*dimension, h, w]`.
    /// - Returns: symbols `[N, groups, h, w]` flattened in that order; ties go to the lowest index.
    ///
    /// The distance of code k is `|c_k|² − 2 (x · c_k)`, the dot product summed over the components
    /// in index order. Codes are evaluated eight at a time, one SIMD lane each, every lane doing
    /// exactly the scalar operations in the same order (IEEE additions and multiplications, never
    /// fused), so the choice is the same as one code at a time, bit for bit, on every CPU: the
    /// encoder's symbols do not depend on how wide the vector unit is.
    public func nearestSymbols(latent: Tensor) -> [Int32] {
        precondition(latent.shape.count == 4 && latent.shape[1] == channels,
                     "latent shape \(latent.shape) does not have \(channels) channels")
        let (n, h, w) = (latent.shape[0], latent.shape[2], latent.shape[3])
        let plane = h * w
        var symbols = [Int32](repeating: 0, count: n * groups * plane)
        // |c|^2 per code, once: distance = |c|^2 - 2 x.c (+ |x|^2, constant per vector).
        var norms = [Float](repeating: 0, count: groups * codebookSize)
        for j in 0..<(groups * codebookSize) {
            var s: Float = 0
            for i in 0..<dimension { let v = vectors[j * dimension + i]; s += v * v }
            norms[j] = s
        }
        // Codes in blocks of 8, component-major within a block: lane l of row i of block b of
        // group g holds component i of code 8b + l.
        let lanes = 8
        let blocks = codebookSize / lanes
        var transposed = [Float](repeating: 0, count: max(1, groups * blocks * dimension * lanes))
        for g in 0..<groups {
            for k in 0..<(blocks * lanes) {
                for i in 0..<dimension {
                    transposed[((g * blocks + k / lanes) * dimension + i) * lanes + k % lanes] =
                        vectors[(g * codebookSize + k) * dimension + i]
                }
            }
        }
        let (groups, codebookSize, dimension, channels) = (self.groups, self.codebookSize, self.dimension, self.channels)
        // Each vector's code depends on that vector alone: runs of positions go to the cores.
        let run = 256
        let runs = (plane + run - 1) / run
        let workers = Parallelism.chunkWorkerCount(for: n * groups * runs)
        let buffers = UnsafeMutablePointer<Float>.allocate(capacity: workers * dimension)
        defer { buffers.deallocate() }
        symbols.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            latent.data.withUnsafeBufferPointer { x in
                vectors.withUnsafeBufferPointer { c in
                    transposed.withUnsafeBufferPointer { t in
                        norms.withUnsafeBufferPointer { norms in
                            Parallelism.forEachChunk(count: n * groups * runs) { worker, chunk in
                                let (b, g, first) = (chunk / (groups * runs), chunk / runs % groups, chunk % runs * run)
                                let v = buffers + worker * dimension
                                for p in first..<min(first + run, plane) {
                                    for i in 0..<dimension { v[i] = x[((b * channels) + g * dimension + i) * plane + p] }
                                    var best = 0
                                    var bestDistance = Float.infinity
                                    for block in 0..<blocks {
                                        let rows = UnsafeRawPointer(t.baseAddress! + (g * blocks + block) * dimension * lanes)
                                        var dot = SIMD8<Float>(repeating: 0)
                                        for i in 0..<dimension {
                                            let column = rows.loadUnaligned(fromByteOffset: i * lanes * MemoryLayout<Float>.stride,
                                                                            as: SIMD8<Float>.self)
                                            dot = dot + SIMD8<Float>(repeating: v[i]) * column
                                        }
                                        let first = g * codebookSize + block * lanes
                                        let norm = UnsafeRawPointer(norms.baseAddress! + first).loadUnaligned(as: SIMD8<Float>.self)
                                        let d = norm - 2 * dot
                                        for lane in 0..<lanes where d[lane] < bestDistance {
                                            bestDistance = d[lane]; best = block * lanes + lane
                                        }
                                    }
                                    for k in (blocks * lanes)..<codebookSize {
                                        let base = (g * codebookSize + k) * dimension
                                        var dot: Float = 0
                                        for i in 0..<dimension { dot += v[i] * c[base + i] }
                                        let d = norms[g * codebookSize + k] - 2 * dot
                                        if d < bestDistance { bestDistance = d; best = k }
                                    }
                                    out[(b * groups + g) * plane + p] = Int32(best)
                                }
                            }
                        }
                    }
                }
            }
        }
        return symbols
    }

    /// The codebook vectors for `symbols` laid out as a latent map `[N, groups*dimension, h, w]`.
    public func latent(symbols: [Int32], batch n: Int, height h: Int, width w: Int) -> Tensor {
        precondition(symbols.count == n * groups * h * w)
        let plane = h * w
        var out = [Float](repeating: 0, count: n * channels * plane)
        for b in 0..<n {
            for g in 0..<groups {
                for p in 0..<plane {
                    let k = Int(symbols[(b * groups + g) * plane + p])
                    precondition(k >= 0 && k < codebookSize, "symbol \(k) outside codebook of \(codebookSize)")
                    let base = (g * codebookSize + k) * dimension
                    for i in 0..<dimension {
                        out[((b * channels) + g * dimension + i) * plane + p] = vectors[base + i]
                    }
                }
            }
        }
        return Tensor(shape: [n, channels, h, w], data: out)
    }
}

/// How a batch of symbols used each codebook.
public struct CodebookUsage: Sendable, Equatable {
    /// Per group: how many distinct codes appeared.
    public var codesUsed: [Int]
    /// Per group: 2^H of the empirical code distribution (equals `codebookSize` when use is uniform).
    public var perplexity: [Double]
    public var codebookSize: Int
    /// Per group, per code: how many times it appeared (`[groups][codebookSize]`).
    public var counts: [[Int]]

    /// Counts per group `[groups][codebookSize]`.
    public init(counts: [[Int]], codebookSize: Int) {
        self.codebookSize = codebookSize
        self.counts = counts
        codesUsed = counts.map { $0.filter { $0 > 0 }.count }
        perplexity = counts.map { row in
            let total = Double(row.reduce(0, +))
            guard total > 0 else { return 0 }
            var entropy = 0.0
            for c in row where c > 0 {
                let p = Double(c) / total
                entropy -= p * log2(p)
            }
            return pow(2, entropy)
        }
    }

    /// Usage of symbols laid out `[N, groups, plane]` (as `Codebooks.nearestSymbols` returns them).
    public init(symbols: [Int32], groups: Int, plane: Int, codebookSize: Int) {
        precondition(plane > 0 && symbols.count % (groups * plane) == 0)
        var counts = [[Int]](repeating: [Int](repeating: 0, count: codebookSize), count: groups)
        for (i, s) in symbols.enumerated() { counts[(i / plane) % groups][Int(s)] += 1 }
        self.init(counts: counts, codebookSize: codebookSize)
    }

    /// Usage over several batches (or images) together: counts added, so a code counts as used
    /// when any of them used it.
    public static func combined(_ parts: [CodebookUsage]) -> CodebookUsage? {
        guard let first = parts.first else { return nil }
        guard parts.allSatisfy({ $0.codebookSize == first.codebookSize && $0.counts.count == first.counts.count }) else { return nil }
        var counts = first.counts
        for part in parts.dropFirst() {
            for g in counts.indices { for k in counts[g].indices { counts[g][k] += part.counts[g][k] } }
        }
        return CodebookUsage(counts: counts, codebookSize: first.codebookSize)
    }

    /// One line for a progress display: `codes 498/512 503/512, ppl 431 440`.
    public var summary: String {
        let used = codesUsed.map { "\($0)/\(codebookSize)" }.joined(separator: " ")
        let ppl = perplexity.map { String(Int($0.rounded())) }.joined(separator: " ")
        return "codes \(used), ppl \(ppl)"
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
