#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Reading and writing whole files, the way a codec must: an output appears complete or not at all.
///
/// `write(_:to:)` writes to a temporary file in the destination's folder, flushes it to disk and
/// renames it over the destination. A failed or interrupted run leaves the previous file (if any)
/// untouched and no partial output. SIGINT/SIGTERM remove temporaries still being written
/// (see ``installInterruptCleanup()``); SIGKILL cannot be caught and may leave a hidden
/// `.NAME.*.partial` file beside the destination, never a truncated destination.
public enum AtomicFile {
    /// Writes `bytes` to `path` atomically.
    ///
    /// A symbolic link at `path` is followed: the file it names is replaced and the link stays.
    /// A destination that exists but is not a regular file (a device such as `/dev/full`, a
    /// folder, a pipe) is refused with ``FileIOError/notRegularFile(path:)``: renaming over
    /// it would replace the device node itself rather than write to it.
    /// - Parameter refusingToOverwrite: paths of inputs the caller is reading; if `path` names the
    ///   same file (same device and inode, so hard links, symbolic links and `./x` spellings are
    ///   caught), the write is refused.
    public static func write(_ bytes: [UInt8], to path: String, refusingToOverwrite inputs: [String] = []) throws(FileIOError) {
        for input in inputs where sameFile(input, path) {
            throw .outputIsInput(path: path)
        }
        var destination = path
        var info = stat()
        if stat(path, &info) == 0 {
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                throw .notRegularFile(path: path)
            }
            var link = stat()
            if lstat(path, &link) == 0, (link.st_mode & S_IFMT) == S_IFLNK, let resolved = realpath(path, nil) {
                destination = String(cString: resolved)
                free(resolved)
            }
        }
        let (folder, name) = split(destination)
        var template = Array("\(folder)/.\(name).XXXXXX.partial".utf8CString)
        let fd = template.withUnsafeMutableBufferPointer { mkstemps($0.baseAddress!, 8) }
        if fd < 0 { throw .cannotCreate(path: path, reason: errnoText()) }
        let temporary = String(decoding: template.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let slot = TemporaryRegistry.add(temporary)
        defer { TemporaryRegistry.remove(slot) }
        func fail(_ reason: String) -> FileIOError {
            close(fd)
            unlink(temporary)
            return .writeFailed(path: path, reason: reason)
        }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc_write(fd, $0.baseAddress! + written, $0.count - written) }
            if n < 0 {
                if errno == EINTR { continue }
                throw fail(errnoText())
            }
            written += n
        }
        // mkstemp creates 0600; give the file the permissions a plain create would (0666 & ~umask).
        let mask = umask(0); umask(mask)
        if fchmod(fd, 0o666 & ~mask) != 0 { throw fail(errnoText()) }
        if fsync(fd) != 0 { throw fail(errnoText()) }
        if close(fd) != 0 { unlink(temporary); throw .writeFailed(path: path, reason: errnoText()) }
        if rename(temporary, destination) != 0 {
            let reason = errnoText()
            unlink(temporary)
            throw .writeFailed(path: path, reason: reason)
        }
    }

    /// Reads a whole regular file, refusing files larger than `maxBytes` before reading them.
    public static func read(_ path: String, maxBytes: Int = 1 << 31) throws(FileIOError) -> [UInt8] {
        let fd = open(path, O_RDONLY)
        if fd < 0 {
            if errno == ENOENT { throw .notFound(path: path) }
            throw .readFailed(path: path, reason: errnoText())
        }
        defer { close(fd) }
        var info = stat()
        if fstat(fd, &info) != 0 { throw .readFailed(path: path, reason: errnoText()) }
        if (info.st_mode & S_IFMT) == S_IFDIR { throw .readFailed(path: path, reason: "it is a folder") }
        let size = Int(info.st_size)
        if size > maxBytes { throw .tooLarge(path: path, bytes: size, limit: maxBytes) }
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let n = bytes.withUnsafeMutableBytes { Glibc_read(fd, $0.baseAddress! + done, size - done) }
            if n < 0 {
                if errno == EINTR { continue }
                throw .readFailed(path: path, reason: errnoText())
            }
            if n == 0 { break }
            done += n
        }
        if done != size { bytes.removeLast(size - done) }
        return bytes
    }

    /// True when both paths exist and name the same file.
    public static func sameFile(_ a: String, _ b: String) -> Bool {
        var sa = stat(), sb = stat()
        guard stat(a, &sa) == 0, stat(b, &sb) == 0 else { return false }
        return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino
    }

    /// Installs SIGINT/SIGTERM handlers that delete temporaries of writes in progress, then exit
    /// with status 130 (SIGINT) or 143 (SIGTERM). Programs with their own interrupt handling
    /// (training checkpoints) call ``removeTemporaries()`` themselves instead.
    public static func installInterruptCleanup() {
        signal(SIGINT, interruptHandler)
        signal(SIGTERM, interruptHandler)
    }

    /// Deletes temporaries of writes in progress. Async-signal-safe.
    public static func removeTemporaries() { TemporaryRegistry.unlinkAll() }

    static func split(_ path: String) -> (folder: String, name: String) {
        guard let slash = path.lastIndex(of: "/") else { return (".", path) }
        let folder = String(path[..<slash])
        return (folder.isEmpty ? "/" : folder, String(path[path.index(after: slash)...]))
    }
}

private func interruptHandler(_ signalNumber: Int32) {
    TemporaryRegistry.unlinkAll()
    _exit(128 + signalNumber)
}

func errnoText() -> String { String(cString: strerror(errno)) }

@inline(__always) private func Glibc_write(_ fd: Int32, _ p: UnsafeRawPointer, _ n: Int) -> Int { write(fd, p, n) }
@inline(__always) private func Glibc_read(_ fd: Int32, _ p: UnsafeMutableRawPointer, _ n: Int) -> Int { read(fd, p, n) }

/// Fixed slots of C strings naming temporaries being written, readable from a signal handler
/// (no allocation, no locks on the reading side).
enum TemporaryRegistry {
    static let slotCount = 64
    static let slotBytes = 4096
    nonisolated(unsafe) static let storage: UnsafeMutablePointer<CChar> = {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: slotCount * slotBytes)
        p.initialize(repeating: 0, count: slotCount * slotBytes)
        return p
    }()
    nonisolated(unsafe) static var lock = pthread_mutex_t()
    static let lockReady: Bool = { pthread_mutex_init(&lock, nil); return true }()

    static func add(_ path: String) -> Int? {
        let utf8 = Array(path.utf8CString)
        guard utf8.count <= slotBytes, lockReady else { return nil }
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        for slot in 0..<slotCount where storage[slot * slotBytes] == 0 {
            let base = storage + slot * slotBytes
            for i in 1..<utf8.count { base[i] = utf8[i] }
            base[utf8.count - 1] = 0
            base[0] = utf8[0] // publish last: the first byte marks the slot as used
            return slot
        }
        return nil
    }

    static func remove(_ slot: Int?) {
        guard let slot else { return }
        pthread_mutex_lock(&lock); defer { pthread_mutex_unlock(&lock) }
        storage[slot * slotBytes] = 0
    }

    static func unlinkAll() {
        for slot in 0..<slotCount where storage[slot * slotBytes] != 0 {
            unlink(storage + slot * slotBytes)
        }
    }
}
