import SeededRandom
import XCTest
import Foundation
import Engine
import Images

/// Ctrl-C (SIGINT) and `kill -9` (SIGKILL) while `encode`, `decode` and `train` are working:
/// the output is either absent or the previous complete file, SIGINT leaves no temporary, the
/// temporaries SIGKILL may leave are recognisable `.NAME.XXXXXX.partial` files that do not
/// disturb the next run, and a checkpoint killed mid-run still resumes.
final class InterruptionTests: XCTestCase {
    var folder: URL!
    var model: String { CLI.fixtures.appendingPathComponent("models/tiny.safetensors").path }
    var photo: String { CLI.fixtures.appendingPathComponent("images/photo-64x48.png").path }

    override func setUpWithError() throws { folder = try CLI.temporaryFolder() }
    override func tearDownWithError() throws { try? FileManager.default.removeItem(at: folder) }
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
    func bytes(_ file: String) throws -> Data { try Data(contentsOf: URL(fileURLWithPath: file)) }

    /// A 3072 × 2048 photo-like PNG: about 4 s of work for the tiny model in a debug build.
    func writeLargeImage(_ name: String) throws -> String {
        let (width, height) = (3072, 2048)
        var generator = SplitMix64(seed: 5)
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let noise = Int(generator.next() % 24)
                pixels[(y * width + x) * 3] = UInt8(truncatingIfNeeded: x / 12 + noise)
                pixels[(y * width + x) * 3 + 1] = UInt8(truncatingIfNeeded: y / 8 + noise)
                pixels[(y * width + x) * 3 + 2] = UInt8(truncatingIfNeeded: (x ^ y) / 16 + noise)
            }
        }
        try PNG.write(Image(width: width, height: height, colorType: .rgb, pixels: pixels), to: path(name))
        return path(name)
    }

    /// Starts `vqcodec arguments`, waits until it has used `cpuSeconds` of processor time (it is
    /// working, past loading), sends `signal`, and returns how it ended. Fails if it finished first.
    func interrupt(_ arguments: [String], with signal: Int32, afterCPUSeconds cpuSeconds: Double = 0.8,
                   until ready: () -> Bool = { true }) throws -> (reason: Process.TerminationReason, status: Int32) {
        let process = Process()
        process.executableURL = CLI.productsDirectory.appendingPathComponent("vqcodec")
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let deadline = Date().addingTimeInterval(120)
        while process.isRunning && (Self.cpuSeconds(of: process.processIdentifier) < cpuSeconds || !ready()) && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.02)
        }
        XCTAssertTrue(process.isRunning, "\(arguments[0]) finished before it could be interrupted; give it more work")
        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        return (process.terminationReason, process.terminationStatus)
    }

    /// User + system time of a process, from /proc/PID/stat (fields 14 and 15, in clock ticks).
    static func cpuSeconds(of pid: Int32) -> Double {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return 0 }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return 0 }
        return (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
    }

    /// Files in `folder` that are neither expected nor a SIGKILL leftover of `output`
    /// (`.OUTPUT.XXXXXX.partial`); returns the leftovers.
    func leftovers(of output: String, expected: Set<String>) throws -> [String] {
        let pattern = "^\\.\(NSRegularExpression.escapedPattern(for: output))\\.[A-Za-z0-9]{6}\\.partial$"
        var partials: [String] = []
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where !expected.contains(name) {
            XCTAssertNotNil(name.range(of: pattern, options: .regularExpression), "unexpected file \(name)")
            partials.append(name)
        }
        return partials
    }

    func testEncodeInterruptedKeepsThePreviousOutput() throws {
        let large = try writeLargeImage("large.png")
        XCTAssertEqual(try CLI.run(["encode", photo, path("out.vqc"), "--model", model]).status, 0)
        let previous = try bytes(path("out.vqc"))

        let sigint = try interrupt(["encode", large, path("out.vqc"), "--model", model], with: SIGINT)
        XCTAssertEqual(sigint.reason, .exit)
        XCTAssertEqual(sigint.status, 130)
        XCTAssertEqual(try bytes(path("out.vqc")), previous, "SIGINT: the previous output is untouched")
        XCTAssertEqual(try leftovers(of: "out.vqc", expected: ["large.png", "out.vqc"]), [], "SIGINT leaves no temporary")

        let sigkill = try interrupt(["encode", large, path("out.vqc"), "--model", model], with: SIGKILL, afterCPUSeconds: 1.5)
        XCTAssertEqual(sigkill.reason, .uncaughtSignal)
        XCTAssertEqual(try bytes(path("out.vqc")), previous, "SIGKILL: the previous output is untouched")
        _ = try leftovers(of: "out.vqc", expected: ["large.png", "out.vqc"])
    }

    func testDecodeInterruptedLeavesNoOutput() throws {
        let large = try writeLargeImage("large.png")
        XCTAssertEqual(try CLI.run(["encode", large, path("large.vqc"), "--model", model]).status, 0)
        let expected: Set<String> = ["large.png", "large.vqc"]

        let sigint = try interrupt(["decode", path("large.vqc"), path("out.png"), "--model", model], with: SIGINT)
        XCTAssertEqual(sigint.status, 130)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.png")), "SIGINT: no partial output")
        XCTAssertEqual(try leftovers(of: "out.png", expected: expected), [], "SIGINT leaves no temporary")

        let sigkill = try interrupt(["decode", path("large.vqc"), path("out.png"), "--model", model], with: SIGKILL,
                                    afterCPUSeconds: 1.5)
        XCTAssertEqual(sigkill.reason, .uncaughtSignal)
        XCTAssertFalse(FileManager.default.fileExists(atPath: path("out.png")), "SIGKILL: no partial output")
        _ = try leftovers(of: "out.png", expected: expected)
    }

    func testLeftoverOfAKilledRunDoesNotDisturbTheNextRun() throws {
        // What SIGKILL during the write leaves: a hidden temporary beside the output.
        let stale = path(".out.vqc.Ab12Cd.partial")
        FileManager.default.createFile(atPath: stale, contents: Data([1, 2, 3]))
        let result = try CLI.run(["encode", photo, path("out.vqc"), "--model", model])
        XCTAssertEqual(result.status, 0, result.stderr)
        XCTAssertEqual(try CLI.run(["info", path("out.vqc")]).status, 0, "the new output is complete")
        XCTAssertEqual(try bytes(stale), Data([1, 2, 3]), "the leftover is neither used nor removed")
        XCTAssertEqual(try leftovers(of: "out.vqc", expected: ["out.vqc"]), [".out.vqc.Ab12Cd.partial"])
    }

    func testTrainingKilledWhileCheckpointingResumes() throws {
        try FileManager.default.createDirectory(atPath: path("data"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: photo, toPath: path("data/photo.png"))
        let options = ["--stride", "8", "--width", "8", "--latent-channels", "8", "--groups", "2", "--codebook-size", "16",
                       "--batch", "2", "--crop", "32", "--seed", "3", "--log-every", "1000", "--name", "killed",
                       "--data", path("data"), "--out", path("m.safetensors"), "--steps", "1000000", "--checkpoint-every", "1"]
        let manifest = path("m.safetensors.ckpt/checkpoint.json")
        // Killed while it writes a checkpoint after every step.
        let killed = try interrupt(["train", "vqvae"] + options, with: SIGKILL, afterCPUSeconds: 1.5,
                                   until: { FileManager.default.fileExists(atPath: manifest) })
        XCTAssertEqual(killed.reason, .uncaughtSignal)
        let stepBefore = try Self.step(manifest)
        XCTAssertGreaterThan(stepBefore, 0)
        for name in try FileManager.default.contentsOfDirectory(atPath: path("m.safetensors.ckpt")) {
            XCTAssertNotNil(name.range(of: #"^(checkpoint\.json|[a-z]+-[0-9]{8}\.safetensors|\..+\.[A-Za-z0-9]{6}\.partial)$"#,
                                       options: .regularExpression), "unexpected checkpoint file \(name)")
        }

        // The checkpoint loads and the run goes on; Ctrl-C then saves the model and a later checkpoint.
        let resumed = try interrupt(["train", "vqvae", "--resume"] + options, with: SIGINT, afterCPUSeconds: 1.5,
                                    until: { ((try? Self.step(manifest)) ?? 0) > stepBefore })
        XCTAssertEqual(resumed.reason, .exit)
        XCTAssertEqual(resumed.status, 130)
        XCTAssertGreaterThan(try Self.step(manifest), stepBefore)
        // The model written on Ctrl-C loads: as a VQ-VAE without a prior yet, which encode says.
        let encoded = try CLI.run(["encode", photo, path("x.vqc"), "--model", path("m.safetensors")])
        XCTAssertEqual(encoded.status, 65)
        XCTAssertTrue(encoded.stderr.contains("the model has no integer prior"), encoded.stderr)
        let partials = try FileManager.default.contentsOfDirectory(atPath: path("m.safetensors.ckpt")).filter { $0.hasSuffix(".partial") }
        XCTAssertTrue(partials.allSatisfy { name in
            // Only leftovers of the SIGKILL above can remain; SIGINT removed its own.
            name.hasPrefix(".")
        }, "\(partials)")
    }

    static func step(_ manifest: String) throws -> Int {
        let data = try Data(contentsOf: URL(fileURLWithPath: manifest))
        let object = try JSONSerialization.jsonObject(with: data) as? [String: Any]
        return object?["step"] as? Int ?? -1
    }
}
