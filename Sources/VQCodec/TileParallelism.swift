import Dispatch

/// Runs independent per-tile work on up to `threads` cores. Each tile's result depends only on
/// that tile's inputs, and results are stored by tile index, so the output never depends on the
/// thread count or on which tile finishes first.
enum TileParallelism {
    static func map<T>(count: Int, threads: Int, _ body: (Int) throws -> T) throws -> [T] {
        var results = [Result<T, any Error>?](repeating: nil, count: count)
        let workers = max(1, min(threads, count))
        results.withUnsafeMutableBufferPointer { slots in
            let shared = SharedSlots(base: slots.baseAddress!)
            withoutActuallyEscaping(body) { body in
                let work = Unchecked(body)
                // Tiles are dealt round-robin: worker w takes tiles w, w + workers, …
                DispatchQueue.concurrentPerform(iterations: workers) { worker in
                    var index = worker
                    while index < count {
                        shared.base[index] = Result { try work.value(index) }
                        index += workers
                    }
                }
            }
        }
        return try results.map { try $0!.get() }
    }
}

private struct SharedSlots<T>: @unchecked Sendable {
    let base: UnsafeMutablePointer<T>
}

private struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
