#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A learning rate as a pure function of the step: linear warm-up to `peak`, then a decay to
/// `floor`. Steps count from 0 (the first update is step 0), so a resumed run asks for the rate
/// of ``Adam/stepCount`` and gets the rate the uninterrupted run would have used.
public struct LearningRateSchedule: Sendable, Equatable {
    /// How the rate falls after the warm-up.
    public enum Decay: Sendable, Equatable {
        /// Stays at `peak`.
        case constant
        /// Half a cosine from `peak` at the end of the warm-up to `floor` at `totalSteps`, then `floor`.
        case cosine(totalSteps: Int)
        /// Multiplied by `factor` every `every` steps after the warm-up, never below `floor`.
        case step(every: Int, factor: Float)
    }

    public var peak: Float
    public var floor: Float
    /// Steps 0 ..< warmupSteps rise linearly: step s gets peak · (s + 1) / warmupSteps,
    /// so no step has rate 0 and the last warm-up step has `peak`.
    public var warmupSteps: Int
    public var decay: Decay

    public init(peak: Float, floor: Float = 0, warmupSteps: Int = 0, decay: Decay = .constant) {
        precondition(peak >= 0 && floor >= 0 && floor <= peak, "a schedule needs 0 ≤ floor ≤ peak")
        precondition(warmupSteps >= 0, "warmupSteps must be ≥ 0")
        switch decay {
        case .constant: break
        case .cosine(let total): precondition(total >= warmupSteps, "cosine totalSteps must be ≥ warmupSteps")
        case .step(let every, let factor): precondition(every > 0 && factor > 0 && factor <= 1, "step decay needs every > 0 and 0 < factor ≤ 1")
        }
        self.peak = peak
        self.floor = floor
        self.warmupSteps = warmupSteps
        self.decay = decay
    }

    /// The learning rate for update number `step` (0-based).
    public func learningRate(atStep step: Int) -> Float {
        precondition(step >= 0, "steps count from 0")
        if step < warmupSteps {
            return Float(Double(peak) * Double(step + 1) / Double(warmupSteps))
        }
        let since = step - warmupSteps
        switch decay {
        case .constant:
            return peak
        case .cosine(let total):
            let span = total - warmupSteps
            if since >= span { return floor }
            let progress = Double(since) / Double(span)
            return Float(Double(floor) + (Double(peak) - Double(floor)) * 0.5 * (1 + cos(Double.pi * progress)))
        case .step(let every, let factor):
            let rate = Double(peak) * pow(Double(factor), Double(since / every))
            return Swift.max(floor, Float(rate))
        }
    }
}
