// The fuzzer's executable. Built by Tools/fuzz.sh with -DVQC_FUZZ and -sanitize=fuzzer: the
// entry point hands control to libFuzzer's driver, which calls LLVMFuzzerTestOneInput with each
// input, for the reader that VQC_FUZZ_TARGET names (vqc, png or safetensors). A plain
// `swift build` compiles the other branch, a `main` that replays files given on the command line,
// so the normal build never needs the fuzzer runtime.
import FuzzHarness
import Foundation

/// The target named by VQC_FUZZ_TARGET; exits with a usage message when it is missing or unknown.
let fuzzTarget: FuzzHarness.Target = {
    let name = ProcessInfo.processInfo.environment["VQC_FUZZ_TARGET"] ?? ""
    guard let target = FuzzHarness.Target(rawValue: name) else {
        let names = FuzzHarness.Target.allCases.map(\.rawValue).joined(separator: ", ")
        FileHandle.standardError.write(Data("vqcodec-fuzz: set VQC_FUZZ_TARGET to one of \(names)\n".utf8))
        exit(64)
    }
    return target
}()

#if VQC_FUZZ
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    FuzzHarness.run(fuzzTarget, UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// libFuzzer's `int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*UserCb)(const uint8_t *, size_t))`.
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

/// SwiftPM links an executable's `main` to `<module>_main` (so that tests can link the module);
/// with no `@main` in this build, this is that function, and it runs libFuzzer's driver.
@_cdecl("vqcodec_fuzz_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments, fuzzTestOneInput)
}
#else
/// `VQC_FUZZ_TARGET=png vqcodec-fuzz FILE...`: runs each file through the harness, as the fuzzer
/// would, and prints whether the reader accepted it.
@main
enum Replay {
    static func main() throws {
        let target = fuzzTarget
        for path in CommandLine.arguments.dropFirst() {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
            let accepted = bytes.withUnsafeBytes { FuzzHarness.run(target, $0) }
            print("\(path): \(accepted ? "accepted" : "rejected")")
        }
    }
}
#endif
