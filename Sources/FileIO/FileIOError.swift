/// Failures reading or writing whole files. Each case names the file.
public enum FileIOError: Error, Equatable, CustomStringConvertible {
    case notFound(path: String)
    case readFailed(path: String, reason: String)
    case tooLarge(path: String, bytes: Int, limit: Int)
    case cannotCreate(path: String, reason: String)
    case writeFailed(path: String, reason: String)
    case outputIsInput(path: String)
    /// The output path names something other than a regular file (a device, a folder, a pipe).
    case notRegularFile(path: String)

    public var description: String {
        switch self {
        case .notFound(let path):
            return "\(path): no such file"
        case .readFailed(let path, let reason):
            return "\(path): cannot read: \(reason)"
        case .tooLarge(let path, let bytes, let limit):
            return "\(path): file is \(bytes) bytes, more than the limit of \(limit)"
        case .cannotCreate(let path, let reason):
            return "\(path): cannot create output: \(reason) (is the folder writable?)"
        case .writeFailed(let path, let reason):
            return "\(path): write failed: \(reason); the previous file, if any, is unchanged"
        case .outputIsInput(let path):
            return "\(path): refusing to write the output over the input; choose another output path"
        case .notRegularFile(let path):
            return "\(path): not a regular file (a device, folder or pipe); outputs are written only as regular files"
        }
    }
}
