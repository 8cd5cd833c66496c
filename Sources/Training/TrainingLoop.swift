import Engine

/// How a training run ended.
public enum TrainingOutcome: Sendable, Equatable {
    case finished
    /// The run was asked to stop; a checkpoint of `step` was saved.
    case interrupted(step: Int)
}

/// The update rule both trainers share: clip the global gradient norm, take an Adam step at the
/// scheduled learning rate, and skip an update whose loss or gradient is not finite; ten skipped
/// in a row mean the run has diverged.
struct GuardedUpdate {
    /// Updates skipped in a row.
    private(set) var nonFiniteInARow = 0
    static let divergedAfter = 10

    /// What one update did.
    struct Outcome {
        var learningRate: Float
        /// Global gradient norm before clipping.
        var gradientNorm: Float
        /// False when the update was skipped because something was not finite.
        var updated: Bool
        /// True when this was the tenth skipped update in a row.
        var diverged: Bool
    }

    /// Applies the update for `step` to `optimizer`'s parameters, whose gradients the caller has
    /// just computed; `lossIsFinite` says whether the step's loss was.
    mutating func apply(to optimizer: Adam, schedule: LearningRateSchedule, clipNorm: Float, step: Int,
                        lossIsFinite: Bool) -> Outcome {
        let norm = clipGradientNorm(optimizer.parameters, maxNorm: clipNorm)
        let learningRate = schedule.learningRate(atStep: step)
        let finite = norm.isFinite && lossIsFinite
        if finite {
            optimizer.step(learningRate: learningRate)
            nonFiniteInARow = 0
        } else {
            nonFiniteInARow += 1
        }
        return Outcome(learningRate: learningRate, gradientNorm: norm, updated: finite,
                       diverged: nonFiniteInARow >= Self.divergedAfter)
    }
}

/// The loop both trainers run: steps until the planned count, a progress line every `logEvery`
/// steps (and whenever the trainer says a step is worth reporting), a checkpoint every
/// `checkpointEvery` steps, and on a stop request a checkpoint and ``TrainingOutcome/interrupted(step:)``.
/// The trainer supplies the step, the report and the save; what happens after the last step
/// (a final evaluation, the final model file) stays with the trainer.
struct TrainingLoop {
    var checkpointEvery: Int
    var logEvery: Int
    var progress: TrainingProgress
    /// Where checkpoints go, for the message on interruption.
    var checkpointPath: String

    init(checkpointEvery: Int, logEvery: Int, progress: TrainingProgress, checkpointPath: String) {
        precondition(checkpointEvery > 0 && logEvery > 0)
        self.checkpointEvery = checkpointEvery
        self.logEvery = logEvery
        self.progress = progress
        self.checkpointPath = checkpointPath
    }

    /// - step: the steps done so far (read after each `trainStep`).
    /// - trainStep: takes one step.
    /// - afterStep: called after each step with the new step count; true forces a progress line
    ///   (for example after a held-out evaluation).
    /// - report: the fields of a progress line; `forced` is what `afterStep` returned.
    /// - save: writes a checkpoint and the model file so far.
    func run<Failure: Error>(
        steps: Int, step: () -> Int, shouldStop: () -> Bool,
        trainStep: () throws(Failure) -> Void,
        afterStep: (Int) -> Bool = { _ in false },
        report: (_ forced: Bool) -> [ProgressField],
        save: () throws(Failure) -> Void
    ) throws(Failure) -> TrainingOutcome {
        while step() < steps {
            if shouldStop() {
                try save()
                progress.message("interrupted: checkpoint of step \(step()) saved in \(checkpointPath); "
                                 + "run the same command with --resume to continue")
                return .interrupted(step: step())
            }
            try trainStep()
            let done = step()
            let forced = afterStep(done)
            if done % logEvery == 0 || done == steps || forced {
                progress.report(step: done, fields: report(forced))
            }
            if done % checkpointEvery == 0 && done < steps {
                try save()
            }
        }
        return .finished
    }
}
