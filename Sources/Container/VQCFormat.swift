/// Which `.vqc` format version a file uses, so a program can hand it to the right reader:
/// ``VQCFile`` for version 1, ``ProgressiveVQCFile`` for version 2 (`Formats/vqc.md`).
public enum VQCFormat {
    /// The newest format version this code reads and writes.
    public static let newestVersion: UInt16 = ProgressiveVQCHeader.currentVersion

    /// The format version of the file starting with `bytes` (1 or 2), after the checks every version
    /// shares (`Formats/vqc.md` §4 steps 1–2): ``ContainerError/badSignature(found:)``,
    /// ``ContainerError/pngGiven``, ``ContainerError/truncatedHeader(needed:present:)`` (fewer than 10
    /// bytes), ``ContainerError/unsupportedVersion(found:supported:)`` for any other version.
    public static func version(of bytes: [UInt8]) throws(ContainerError) -> UInt16 {
        let version = try readSignatureAndVersion(bytes)
        guard (1...newestVersion).contains(version) else {
            throw .unsupportedVersion(found: version, supported: newestVersion)
        }
        return version
    }

    /// Steps 1 and 2 of every version's reader, up to (not including) the comparison of the version.
    static func readSignatureAndVersion(_ bytes: [UInt8]) throws(ContainerError) -> UInt16 {
        let present = bytes.count
        // Compare what is there, so a short non-.vqc file is "not a .vqc", not "truncated".
        let signatureBytes = min(vqcSignature.count, present)
        guard bytes[0..<signatureBytes].elementsEqual(vqcSignature[0..<signatureBytes]) else {
            if bytes.starts(with: pngSignaturePrefix) { throw .pngGiven }
            throw .badSignature(found: Array(bytes.prefix(vqcSignature.count)))
        }
        guard present >= vqcSignature.count else { throw .truncatedHeader(needed: vqcSignature.count, present: present) }
        guard present >= Layout.flags else { throw .truncatedHeader(needed: Layout.flags, present: present) }
        return UInt16(bytes.littleEndian(at: Layout.version, count: 2))
    }
}
