import Dispatch
import Foundation

/// How Engine spreads a batch over the cores.
///
/// Measured choice: the batch is split into one contiguous slice per core, each slice run by one
/// thread with single-threaded BLAS, rather than one BLAS call per image with OpenBLAS threading
/// inside it. On the 2-core development machine (AMD EPYC, OpenBLAS 0.3.21, reference transforms,
/// batch 8, 128×128 crops, forward + backward, `EngineBenchmark.run`), images per second:
///
///     scheme                  analysis  synthesis  both
///     batch split (chosen)      33.9      27.7     15.5
///     OpenBLAS threads          24.3      22.9     12.0
///
/// The batch split also parallelises everything around the matrix products (im2col, col2im,
/// GDN's element-wise passes, bias sums, pixel shuffles), which OpenBLAS threads cannot, and each
/// core keeps its own im2col chunk in its own cache. A batch of one falls back to BLAS threads.
package enum Parallelism {
    /// Cores this process may use.
    package static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

    /// How many batch slices run at once. One means "one slice, BLAS uses every core";
    /// the benchmark overrides it to measure the alternative.
    @TaskLocal package static var batchWorkers: Int = cores

    /// Runs `body(worker, items)` over `count` batch items split into contiguous slices, one per
    /// worker, concurrently. Worker indices are `0..<workerCount(for: count)`, so callers can give
    /// each worker its own scratch memory. Sets the BLAS thread count to match: one thread per
    /// slice when slices run concurrently, every core when there is one slice.
    static func forEachSlice(of count: Int, _ body: (_ worker: Int, _ items: Range<Int>) -> Void) {
        let workers = workerCount(for: count)
        if workers <= 1 {
            setBLASThreadCount(cores)
            body(0, 0..<count)
            return
        }
        setBLASThreadCount(1)
        // Workers write disjoint slices of the caller's buffers and their own scratch memory;
        // that discipline, not the type system, is what makes the concurrent calls safe.
        withoutActuallyEscaping(body) { body in
            let work = SliceWork(body: body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                work.body(worker, (worker * count / workers)..<((worker + 1) * count / workers))
            }
        }
    }

    /// The number of workers `forEachSlice(of: count)` uses.
    static func workerCount(for count: Int) -> Int {
        max(1, min(batchWorkers, count))
    }

    /// Runs `body(worker, chunk)` for the chunks `0..<count` of one image (output rows of a
    /// convolution, column blocks of GDN, channels of a pixel shuffle), chunk c on worker
    /// c mod workers, each worker with single-threaded BLAS and its own scratch (`worker` in
    /// `0..<chunkWorkerCount(for: count)`). Layers use it for a batch of one, the codec's case.
    ///
    /// The layer fixes its chunks from the image's size alone, never from the thread count, and
    /// each output element is computed within one chunk: the result is the same on any number of
    /// cores. (BLAS's own threads, which this replaces for a batch of one, split their products
    /// differently on different core counts, which moved a few decoded samples by one level.)
    package static func forEachChunk(count: Int, _ body: (_ worker: Int, _ chunk: Int) -> Void) {
        let workers = chunkWorkerCount(for: count)
        setBLASThreadCount(1)
        if workers <= 1 {
            for chunk in 0..<count { body(0, chunk) }
            return
        }
        withoutActuallyEscaping(body) { body in
            let work = ChunkWork(body: body)
            DispatchQueue.concurrentPerform(iterations: workers) { worker in
                var chunk = worker
                while chunk < count {
                    work.body(worker, chunk)
                    chunk += workers
                }
            }
        }
    }

    /// `body(worker, image, chunk)` for chunks `0..<chunks` of images `0..<n`, each image's chunks
    /// in order: a batch of one chunk by chunk over the cores (`forEachChunk`), a batch image by
    /// image (`forEachSlice`). `worker` is in `0..<workerCount(images: n, chunks: chunks)`.
    static func forEachImageChunk(images n: Int, chunks: Int, _ body: (_ worker: Int, _ image: Int, _ chunk: Int) -> Void) {
        if n == 1 {
            forEachChunk(count: chunks) { worker, chunk in body(worker, 0, chunk) }
            return
        }
        forEachSlice(of: n) { worker, items in
            for image in items {
                for chunk in 0..<chunks { body(worker, image, chunk) }
            }
        }
    }

    /// The number of workers `forEachImageChunk(images:chunks:)` uses.
    static func workerCount(images n: Int, chunks: Int) -> Int {
        n == 1 ? chunkWorkerCount(for: chunks) : workerCount(for: n)
    }

    /// The number of workers `forEachChunk(count:)` uses.
    package static func chunkWorkerCount(for count: Int) -> Int {
        max(1, min(batchWorkers, count))
    }
}

/// `SliceWork` for `forEachChunk`: workers write disjoint chunks and their own scratch.
private struct ChunkWork: @unchecked Sendable {
    let body: (_ worker: Int, _ chunk: Int) -> Void
}

/// Carries a slice body into `concurrentPerform`'s `@Sendable` closure; `forEachSlice`'s
/// contract (disjoint writes per worker) is what makes the concurrent calls safe. Not generic, so
/// no type metadata is instantiated at run time on every parallel region.
private struct SliceWork: @unchecked Sendable {
    let body: (_ worker: Int, _ items: Range<Int>) -> Void
}

/// A growable float buffer owned by one layer and used by one worker at a time, so hot loops
/// reuse memory instead of allocating per call. Not thread-safe: each worker gets its own.
final class ScratchBuffer {
    private(set) var pointer: UnsafeMutablePointer<Float>
    private(set) var capacity: Int

    init() {
        capacity = 0
        pointer = UnsafeMutablePointer<Float>.allocate(capacity: 1)
    }

    deinit { pointer.deallocate() }

    /// Returns storage for at least `count` floats; contents are unspecified.
    func storage(_ count: Int) -> UnsafeMutablePointer<Float> {
        if count > capacity {
            pointer.deallocate()
            pointer = UnsafeMutablePointer<Float>.allocate(capacity: count)
            capacity = count
        }
        return pointer
    }
}

/// One scratch buffer per worker, each handed out as a raw pointer before a parallel region so
/// that workers never touch shared Swift containers.
final class WorkerScratch {
    private var buffers: [ScratchBuffer] = []

    /// Pointers to `workers` buffers of at least `count` floats each.
    func pointers(workers: Int, count: Int) -> [UnsafeMutablePointer<Float>] {
        while buffers.count < workers { buffers.append(ScratchBuffer()) }
        return (0..<workers).map { buffers[$0].storage(count) }
    }
}

extension Tensor {
    /// A tensor whose values `fill` writes; the storage is not zeroed first, so `fill` must write
    /// every element.
    init(shape: [Int], uninitialized fill: (UnsafeMutableBufferPointer<Float>) -> Void) {
        let count = shape.reduce(1, *)
        let data = [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
            fill(buffer)
            initialized = count
        }
        self.init(shape: shape, data: data)
    }

    /// `[batch, channels, height, width]` of an NCHW tensor.
    var nchw: (n: Int, c: Int, h: Int, w: Int) {
        precondition(shape.count == 4, "expected an NCHW tensor, found shape \(shape)")
        return (shape[0], shape[1], shape[2], shape[3])
    }
}
