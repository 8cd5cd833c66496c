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
        var result = [Int32](repeating: 0, count: groups * plane * count)
        var distances = [Float](repeating: 0, count: codebookSize)
        var best = [(distance: Float, code: Int32)](repeating: (.infinity, 0), count: count)
        var vector = [Float](repeating: 0, count: dimension)
        latent.data.withUnsafeBufferPointer { x in
            vectors.withUnsafeBufferPointer { c in
                for g in 0..<groups {
                    for p in 0..<plane {
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
                        let out = (g * plane + p) * count
                        for j in 0..<count { result[out + j] = best[j].code }
                    }
                }
            }
        }
        return result
    }
}
