#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SafeTensors

/// Adam with bias correction (Kingma & Ba, 2015), with optional decoupled weight decay
/// (AdamW, Loshchilov & Hutter, 2019); the same update as PyTorch's `torch.optim.AdamW`.
///
/// One ``step(learningRate:)``, with t the step number after incrementing (1 for the first step),
/// g a parameter's gradient and lr the learning rate:
///
///     p ← p · (1 − lr · weightDecay)
///     m ← β1 · m + (1 − β1) · g
///     v ← β2 · v + (1 − β2) · g²
///     p ← p − lr / (1 − β1^t) · m / (√v / √(1 − β2^t) + ε)
///
/// The moments m and v start at zero and belong to the parameter at the same index of
/// ``parameters``. `step` reads the gradients and leaves them as they are: zero them before the
/// next backward pass. ``state(metadata:)`` and ``restore(from:)`` save and load m, v and t, so
/// training resumes exactly; that state is a file of its own, separate from the model.
public final class Adam {
    /// The parameters updated by ``step(learningRate:)``, with unique names.
    public let parameters: [Parameter]
    /// The learning rate used when ``step(learningRate:)`` is given none.
    public var learningRate: Float
    public let beta1: Float
    public let beta2: Float
    public let epsilon: Float
    /// Decoupled weight decay per unit of learning rate (0 gives plain Adam). It applies to every
    /// parameter; give parameters that should not decay (biases, codebooks) their own optimiser.
    public let weightDecay: Float
    /// Steps taken so far (t of the last step).
    public private(set) var stepCount: Int = 0

    private var firstMoments: [[Float]]
    private var secondMoments: [[Float]]

    public init(parameters: [Parameter], learningRate: Float, beta1: Float = 0.9, beta2: Float = 0.999,
                epsilon: Float = 1e-8, weightDecay: Float = 0) {
        precondition(Set(parameters.map(\.name)).count == parameters.count, "parameter names must be unique")
        precondition(learningRate >= 0 && (0..<1).contains(beta1) && (0..<1).contains(beta2) && epsilon > 0 && weightDecay >= 0,
                     "Adam needs lr ≥ 0, 0 ≤ β1, β2 < 1, ε > 0 and weightDecay ≥ 0")
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.weightDecay = weightDecay
        firstMoments = parameters.map { [Float](repeating: 0, count: $0.value.count) }
        secondMoments = firstMoments
    }

    /// Updates every parameter from its gradient, with `learningRate` or, when nil, ``learningRate``.
    public func step(learningRate: Float? = nil) {
        let lr = learningRate ?? self.learningRate
        stepCount += 1
        let t = Double(stepCount)
        let stepSize = Float(Double(lr) / (1 - pow(Double(beta1), t)))
        let inverseRootCorrection = Float(1 / (1 - pow(Double(beta2), t)).squareRoot())
        let decays = weightDecay != 0
        let decay = 1 - lr * weightDecay
        let (b1, b2, eps) = (beta1, beta2, epsilon)
        let (c1, c2) = (1 - beta1, 1 - beta2)
        for (index, parameter) in parameters.enumerated() {
            precondition(parameter.gradient.shape == parameter.value.shape,
                         "gradient shape \(parameter.gradient.shape) of \"\(parameter.name)\" differs from its value's \(parameter.value.shape)")
            precondition(parameter.value.count == firstMoments[index].count,
                         "\"\(parameter.name)\" changed size after the optimiser was created")
            let gradient = parameter.gradient.data
            firstMoments[index].withUnsafeMutableBufferPointer { m in
                secondMoments[index].withUnsafeMutableBufferPointer { v in
                    parameter.value.data.withUnsafeMutableBufferPointer { p in
                        for i in 0..<p.count {
                            let g = gradient[i]
                            if decays { p[i] *= decay }
                            m[i] = b1 * m[i] + c1 * g
                            v[i] = b2 * v[i] + c2 * g * g
                            p[i] -= stepSize * m[i] / (v[i].squareRoot() * inverseRootCorrection + eps)
                        }
                    }
                }
            }
        }
    }

    /// The optimiser's state as a safetensors file: F32 tensors `m/NAME` and `v/NAME` for each
    /// parameter, and metadata `optimizer` = `Adam`, `step` = t, the hyperparameters, and `metadata`.
    public func state(metadata: [String: String] = [:]) -> SafeTensorsFile {
        var tensors: [String: StoredTensor] = [:]
        for (index, parameter) in parameters.enumerated() {
            tensors["m/" + parameter.name] = StoredTensor(floats: firstMoments[index], shape: parameter.value.shape)
            tensors["v/" + parameter.name] = StoredTensor(floats: secondMoments[index], shape: parameter.value.shape)
        }
        var info = metadata
        info["optimizer"] = "Adam"
        info["step"] = String(stepCount)
        info["beta1"] = "\(beta1)"
        info["beta2"] = "\(beta2)"
        info["epsilon"] = "\(epsilon)"
        info["weight_decay"] = "\(weightDecay)"
        return SafeTensorsFile(metadata: info, tensors: tensors)
    }

    /// Restores moments and step count saved by ``state(metadata:)``. All or nothing: the file must
    /// say `optimizer` = `Adam`, give a step count, and hold F32 moments of the right shape for every
    /// parameter and nothing else. Hyperparameters come from this optimiser, not from the file.
    public func restore(from file: SafeTensorsFile) throws(SafeTensorsError) {
        guard file.metadata["optimizer"] == "Adam" else {
            throw .metadataMismatch(key: "optimizer", expected: "\"Adam\"", found: file.metadata["optimizer"])
        }
        guard let text = file.metadata["step"], let steps = Int(text), steps >= 0 else {
            throw .metadataMismatch(key: "step", expected: "a non-negative integer", found: file.metadata["step"])
        }
        let names = parameters.flatMap { ["m/" + $0.name, "v/" + $0.name] }
        let missing = names.filter { file.tensors[$0] == nil }
        if !missing.isEmpty { throw .missingTensors(missing.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }) }
        var first: [[Float]] = [], second: [[Float]] = []
        for parameter in parameters {
            first.append(try Self.moment("m/" + parameter.name, shape: parameter.value.shape, in: file))
            second.append(try Self.moment("v/" + parameter.name, shape: parameter.value.shape, in: file))
        }
        let unused = Set(file.tensors.keys).subtracting(names)
        if !unused.isEmpty { throw .unexpectedTensors(unused.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }) }
        firstMoments = first
        secondMoments = second
        stepCount = steps
    }

    /// A saved moment: F32 only, so that a resumed run continues bit for bit.
    private static func moment(_ key: String, shape: [Int], in file: SafeTensorsFile) throws(SafeTensorsError) -> [Float] {
        let tensor = try file.tensor(key, shape: shape)
        guard tensor.dtype == .f32 else { throw .wrongDType(key: key, expected: [.f32], found: tensor.dtype) }
        return try tensor.floats(key: key)
    }
}
