import ArgumentParser
import Container
import Foundation
import Images

/// Options that `encode` and `decode` share for resource limits and for many files at once.
struct CodingLimitOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp(
        "Refuse images of more pixels than this, checked on the PNG or .vqc header before any pixel memory is allocated; at most 536870911 (2^29 - 1).",
        valueName: "pixels"))
    var maxPixels = CodingLimitOptions.defaultMaxPixels

    static let defaultMaxPixels = 1 << 28

    func validate() throws {
        guard (1..<(1 << 29)).contains(maxPixels) else {
            throw ValidationError("--max-pixels must be between 1 and 536870911")
        }
    }

    var imageLimits: ImageLimits {
        ImageLimits(maxWidth: ImageLimits.default.maxWidth, maxHeight: ImageLimits.default.maxHeight,
                    maxPixels: maxPixels, maxFileBytes: ImageLimits.default.maxFileBytes)
    }

    var containerLimits: ContainerLimits {
        var limits = ContainerLimits()
        limits.maxPixels = maxPixels
        return limits
    }
}

/// Many files through one command: `vqcodec encode a.png b.png … --out-dir DIR --jobs N`.
enum Batch {
    /// One input and the output it becomes.
    struct Job {
        var input: String
        var output: String
    }

    /// Each input's output in `folder`: its file name with `newExtension` in place of its own.
    /// Throws a usage error when two inputs would write the same output.
    static func jobs(inputs: [String], folder: String, newExtension: String) throws -> [Job] {
        var seen: [String: String] = [:]
        return try inputs.map { input in
            let name = (input as NSString).lastPathComponent
            let stem = (name as NSString).deletingPathExtension
            let output = (folder as NSString).appendingPathComponent(stem + "." + newExtension)
            if let earlier = seen[output] {
                throw ValidationError("\(earlier) and \(input) would both write \(output); rename one of them")
            }
            seen[output] = input
            return Job(input: input, output: output)
        }
    }

    /// Runs `work` on every job with `workers` threads, each with its own context from
    /// `makeContext` (a model of its own, so the transforms of different files run at once;
    /// the contexts are made first, so a missing model fails once, before any file).
    /// Prints each file's report line as it finishes; a failure is printed and the other files go
    /// on. Throws, after all files, the exit code of the first failed file in command-line order.
    static func run<Context>(_ jobs: [Job], workers: Int, makeContext: () throws -> Context,
                             work: (Job, Context) throws -> String) throws {
        let failures = FailureList(count: jobs.count)
        let printLock = NSLock()
        let next = Counter()
        let contexts = try (0..<max(1, min(workers, jobs.count))).map { _ in try makeContext() }
        try withoutActuallyEscaping(work) { work in
            let shared = Unchecked((contexts, work))
            DispatchQueue.concurrentPerform(iterations: contexts.count) { worker in
                let context = shared.value.0[worker]
                while case let index = next.take(), index < jobs.count {
                    do {
                        let line = try shared.value.1(jobs[index], context)
                        printLock.lock(); print(line); fflush(nil); printLock.unlock()
                    } catch let exit as ExitCode {
                        failures.record(index, exit)  // fail() printed it
                    } catch {
                        failures.record(index, fail(error, subject: jobs[index].input))
                    }
                }
            }
        }
        if let first = failures.first {
            let salvaged = failures.count(of: ExitCode(ExitStatus.salvaged))
            let what = salvaged == 0 ? "failed" : salvaged == failures.count ? "were salvaged" : "failed or were salvaged"
            printError("vqcodec: \(failures.count) of \(jobs.count) files \(what)\n")
            throw first
        }
    }
}

/// The exit codes of failed files, by index; thread-safe.
private final class FailureList: @unchecked Sendable {
    private var codes: [ExitCode?]
    private let lock = NSLock()
    init(count: Int) { codes = Array(repeating: nil, count: count) }
    func record(_ index: Int, _ code: ExitCode) { lock.lock(); codes[index] = code; lock.unlock() }
    var first: ExitCode? { lock.lock(); defer { lock.unlock() }; return codes.lazy.compactMap { $0 }.first }
    var count: Int { lock.lock(); defer { lock.unlock() }; return codes.filter { $0 != nil }.count }
    func count(of code: ExitCode) -> Int { lock.lock(); defer { lock.unlock() }; return codes.filter { $0 == code }.count }
}

/// Hands out 0, 1, 2, … to concurrent workers.
private final class Counter: @unchecked Sendable {
    private var value = 0
    private let lock = NSLock()
    func take() -> Int { lock.lock(); defer { value += 1; lock.unlock() }; return value }
}

private struct Unchecked<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: Value) { self.value = value }
}
