import Foundation

/// One value of a progress line and of the CSV log: a CSV column name, the text shown in the
/// line (with its label), and the CSV cell.
public struct ProgressField: Sendable, Equatable {
    public var column: String
    public var text: String
    public var csv: String

    public init(column: String, text: String, csv: String) {
        self.column = column
        self.text = text
        self.csv = csv
    }

    /// A number shown as `label value unit` with `decimals` decimals, and in the CSV with more.
    public static func number(_ column: String, _ value: Double, decimals: Int, label: String, unit: String = "") -> ProgressField {
        let shown = String(format: "%.\(decimals)f", value)
        return ProgressField(column: column, text: "\(label) \(shown)\(unit.isEmpty ? "" : " " + unit)",
                             csv: String(format: "%.\(decimals + 3)g", value))
    }
}

/// The live progress of a training run: one line per report with the step, steps per second,
/// the time left, and the caller's fields (losses, PSNR, codebook use). On a terminal the line is
/// rewritten in place (`\r`); otherwise (a log file) each report is a line of its own. Each report
/// is also appended as a row to a CSV file, so learning curves can be drawn; a resumed run appends
/// to the same file.
public final class TrainingProgress {
    public let totalSteps: Int
    public let csvPath: String?
    private let interactive: Bool
    private let write: (String) -> Void
    private let clock = ContinuousClock()
    private let start: ContinuousClock.Instant
    private let firstStep: Int
    private let elapsedBefore: Double
    private var lastReport: (step: Int, time: ContinuousClock.Instant)
    private var csv: FileHandle?
    private var csvHasHeader: Bool
    private var lineOpen = false

    /// - Parameters:
    ///   - firstStep: steps already done when this process started (a resumed run).
    ///   - elapsedSeconds: training time already spent before this process, for the CSV's clock.
    ///   - csvPath: file the rows are appended to (created with a header if absent or empty), or nil.
    ///   - interactive: rewrite one line in place (a terminal) instead of printing a line per report.
    ///   - write: where lines go (standard output by default).
    public init(totalSteps: Int, firstStep: Int = 0, elapsedSeconds: Double = 0, csvPath: String?,
                interactive: Bool = isatty(STDOUT_FILENO) != 0,
                write: @escaping (String) -> Void = { FileHandle.standardOutput.write(Data($0.utf8)) }) throws(ProgressError) {
        precondition(totalSteps > 0 && firstStep >= 0)
        self.totalSteps = totalSteps
        self.firstStep = firstStep
        self.elapsedBefore = elapsedSeconds
        self.csvPath = csvPath
        self.interactive = interactive
        self.write = write
        start = clock.now
        lastReport = (firstStep, start)
        csvHasHeader = false
        if let csvPath {
            if !FileManager.default.fileExists(atPath: csvPath) {
                guard FileManager.default.createFile(atPath: csvPath, contents: nil) else {
                    throw .cannotOpenLog(csvPath, reason: String(cString: strerror(errno)))
                }
            }
            guard let handle = FileHandle(forWritingAtPath: csvPath) else {
                throw .cannotOpenLog(csvPath, reason: String(cString: strerror(errno)))
            }
            do { csvHasHeader = try handle.seekToEnd() > 0 } catch {
                throw .cannotOpenLog(csvPath, reason: error.localizedDescription)
            }
            csv = handle
        }
    }

    deinit { try? csv?.close() }

    /// Seconds since this process started training.
    public var sessionSeconds: Double { seconds(clock.now - start) }

    /// Seconds of training in total, including earlier processes of a resumed run.
    public var elapsedSeconds: Double { elapsedBefore + sessionSeconds }

    /// Reports that `step` steps are done. Steps per second are measured since the previous
    /// report; the time left extrapolates the rate of this whole process.
    public func report(step: Int, fields: [ProgressField]) {
        let now = clock.now
        let window = seconds(now - lastReport.time)
        let rate = window > 0 ? Double(step - lastReport.step) / window : 0
        let session = seconds(now - start)
        let average = session > 0 ? Double(step - firstStep) / session : 0
        let left = average > 0 ? Double(totalSteps - step) / average : .infinity
        lastReport = (step, now)

        let percent = String(format: "%.1f", 100 * Double(step) / Double(totalSteps))
        let line = "step \(step)/\(totalSteps) (\(percent)%)  " + String(format: "%.2f", rate) + " steps/s  ETA "
            + Self.duration(left) + "  " + fields.map(\.text).filter { !$0.isEmpty }.joined(separator: "  ")
        if interactive {
            write("\r" + line + "\u{1B}[K")
            lineOpen = true
        } else {
            write(line + "\n")
        }
        appendCSV(step: step, rate: rate, fields: fields)
    }

    /// Prints a message on a line of its own (ending a line being rewritten in place first).
    public func message(_ text: String) {
        closeLine()
        write(text + "\n")
    }

    /// Ends the line being rewritten in place, if any.
    public func closeLine() {
        if lineOpen { write("\n"); lineOpen = false }
    }

    private func appendCSV(step: Int, rate: Double, fields: [ProgressField]) {
        guard let csv else { return }
        var text = ""
        if !csvHasHeader {
            text += (["step", "elapsed_s", "steps_per_s"] + fields.map(\.column)).joined(separator: ",") + "\n"
            csvHasHeader = true
        }
        text += ([String(step), String(format: "%.1f", elapsedSeconds), String(format: "%.4g", rate)] + fields.map(\.csv))
            .joined(separator: ",") + "\n"
        do { try csv.write(contentsOf: Data(text.utf8)) } catch {
            message("warning: cannot append to \(csvPath ?? "the log"): \(error.localizedDescription); the CSV log stops here")
            self.csv = nil
        }
    }

    /// `1h02m`, `12m05s`, `42s`, or `?` when unknown.
    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite, seconds >= 0 else { return "?" }
        let s = Int(seconds.rounded())
        if s >= 3600 { return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60) }
        if s >= 60 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return "\(s)s"
    }

    private func seconds(_ d: Duration) -> Double {
        let (s, atto) = d.components
        return Double(s) + Double(atto) * 1e-18
    }
}

/// Why the progress log could not be written.
public enum ProgressError: Error, Equatable, Sendable, CustomStringConvertible {
    case cannotOpenLog(String, reason: String)

    public var description: String {
        switch self {
        case .cannotOpenLog(let path, let reason):
            return "\(path): cannot open the training log for appending: \(reason) (is the folder writable?)"
        }
    }
}
