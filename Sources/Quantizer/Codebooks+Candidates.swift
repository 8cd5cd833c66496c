import Engine

extension Codebooks {
    /// The `count` codes nearest (squared Euclidean distance) to each latent vector, nearest first:
    /// `[groups, h, w, count]` for a latent `[1, groups·dimension, h, w]`. Equal distances keep the
    /// lower index first. The candidates an encoder that weighs rate against distortion chooses from.
    public func nearestCandidates(latent: Tensor, count: Int) -> [Int32] {
        precondition(latent.shape.count == 4 && latent.shape[0] == 1 && latent.shape[1] == channels,
                     "latent shape \(latent.shape) is not [1, \(channels), h, w]")
        precondition(count >= 1 && count <= codebookSize, "candidate count \(count) outside 1...\(codebookSize)")
        let plane = latent.shape[2] * latent.shape[3]
        let (groups, codebookSize, dimension) = (self.groups, self.codebookSize, self.dimension)
        var result = [Int32](repeating: 0, count: groups * plane * count)
        // Each position's list depends on that position alone: runs of positions go to the cores,
        // each worker with its own scratch.
        let run = 256
        let runs = (plane + run - 1) / run
        let workers = Parallelism.chunkWorkerCount(for: groups * runs)
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: workers * (codebookSize + dimension))
        defer { scratch.deallocate() }
        let lists = UnsafeMutablePointer<(distance: Float, code: Int32)>.allocate(capacity: workers * count)
        defer { lists.deallocate() }
        result.withUnsafeMutableBufferPointer { out in
            let out = out.baseAddress!
            latent.data.withUnsafeBufferPointer { x in
                vectors.withUnsafeBufferPointer { c in
                    Parallelism.forEachChunk(count: groups * runs) { worker, chunk in
                        let (g, first) = (chunk / runs, chunk % runs * run)
                        let distances = scratch + worker * (codebookSize + dimension)
                        let vector = distances + codebookSize
                        let best = lists + worker * count
                        for p in first..<min(first + run, plane) {
                            for i in 0..<dimension { vector[i] = x[(g * dimension + i) * plane + p] }
                            for k in 0..<codebookSize {
                                let base = (g * codebookSize + k) * dimension
                                var d: Float = 0
                                for i in 0..<dimension { let e = vector[i] - c[base + i]; d += e * e }
                                distances[k] = d
                            }
                            // Insertion into a sorted list of `count`: strictly smaller moves ahead,
                            // so an equal distance stays behind the lower index found first.
                            var filled = 0
                            for k in 0..<codebookSize {
                                let d = distances[k]
                                if filled == count && !(d < best[count - 1].distance) { continue }
                                var slot = min(filled, count - 1)
                                while slot > 0 && d < best[slot - 1].distance {
                                    best[slot] = best[slot - 1]
                                    slot -= 1
                                }
                                best[slot] = (d, Int32(k))
                                filled = min(filled + 1, count)
                            }
                            let at = (g * plane + p) * count
                            for j in 0..<count { out[at + j] = best[j].code }
                        }
                    }
                }
            }
        }
        return result
    }
}
