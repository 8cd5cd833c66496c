// swift-tools-version:6.0
// vqcodec: a learned image codec (VQ-VAE + PixelCNN prior + range coder).
// Modules follow the data flow (docs/design.md): dependencies point forward only.
import PackageDescription

let package = Package(
    name: "vqcodec",
    products: [
        .executable(name: "vqcodec", targets: ["vqcodec"]),
        .library(name: "VQCodec", targets: ["VQCodec"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // C libraries, each behind one Swift module that owns every call into it.
        .systemLibrary(name: "CPNG", pkgConfig: "libpng",
                       providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib",
                       providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"]), .brew(["openblas"])]),

        // Files: atomic writes shared by every stage that produces a file.
        .target(name: "FileIO"),
        // Images: the codec's image type; PNG reading through libpng, writing through zlib.
        .target(name: "Images", dependencies: ["CPNG", "CZlib", "FileIO"]),
        // One seeded random generator for the whole package: trainers, benchmarks and tests.
        .target(name: "SeededRandom"),
        // Model files: the safetensors reader and writer (tensors, metadata, limits for untrusted files).
        .target(name: "SafeTensors", dependencies: ["FileIO"]),
        // Learning engine: tensors, generic layers with backward passes, optimisers, BLAS.
        .target(name: "Engine", dependencies: [
            .target(name: "CBLAS", condition: .when(platforms: [.linux, .windows, .android])),
            "FileIO", "SafeTensors", "SeededRandom",
        ]),
        // Vector quantisation: codebooks, nearest-code search, EMA updates, usage statistics.
        .target(name: "Quantizer", dependencies: ["Engine", "SafeTensors", "SeededRandom"]),
        // The VQ-VAE: the analysis and synthesis networks, the quantizer; its model-file tensors.
        .target(name: "Transforms", dependencies: ["Engine", "Quantizer", "SafeTensors", "SeededRandom"]),
        // Entropy coding: integer frequency tables and a 64-bit range coder.
        .target(name: "RangeCoder"),
        // The integer prior's inner loops in C: Int16 products with Int32 sums, AVX2 chosen at run
        // time where the CPU has it. Integer arithmetic only (Tests/IntegerPriorTests reads it).
        .target(name: "CIntegerKernels"),
        // The integer PixelCNN prior: the only source of the range coder's tables. Integer
        // arithmetic only, by construction: it sees model files, its integer kernels and the
        // coder, nothing float- or BLAS-based (Tests/IntegerPriorTests checks its imports too).
        .target(name: "IntegerPrior", dependencies: ["SafeTensors", "RangeCoder", "CIntegerKernels"]),
        // The float PixelCNN prior (training, evaluation) and the freezer that derives the integer prior.
        .target(name: "Prior", dependencies: ["Engine", "IntegerPrior", "RangeCoder", "SafeTensors", "SeededRandom"]),
        // The .vqc container: header, tile table, CRCs, limits.
        .target(name: "Container", dependencies: ["CZlib"]),
        // Training loops: data, crops, checkpoints, progress.
        .target(name: "Training", dependencies: [
            "Transforms", "Prior", "IntegerPrior", "Quantizer", "Images", "Engine", "SafeTensors", "SeededRandom", "FileIO"]),
        // The trained models that ship with vqcodec: Models/shipped/ (the catalogue levels.json and
        // every model file it names), copied as a whole next to the executable.
        .target(name: "ShippedModels", path: "Models", exclude: ["README.md"], resources: [.copy("shipped")]),
        // Public API for other Swift programs: models, encode and decode pipelines.
        .target(name: "VQCodec", dependencies: [
            "ShippedModels", "Images", "Transforms", "Quantizer", "IntegerPrior", "Prior", "RangeCoder", "Container",
            "Engine", "SafeTensors", "FileIO"]),
        // Benchmarks of the codec's parts (`vqcodec bench`): figures, never pass/fail.
        .target(name: "Benchmarks", dependencies: [
            "Engine", "Transforms", "IntegerPrior", "Prior", "RangeCoder", "SeededRandom"]),
        // The command-line tool: one file per subcommand.
        .executableTarget(name: "vqcodec", dependencies: [
            "VQCodec", "ShippedModels", "Training", "Benchmarks", "Images", "Container", "RangeCoder", "IntegerPrior", "Prior",
            "Transforms", "Engine", "SafeTensors", "FileIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fuzzing (Fixtures/fuzz/README.md): entry points that feed untrusted bytes to the .vqc,
        // PNG and model-file readers, and the libFuzzer executable Tools/fuzz.sh builds around them.
        .target(name: "FuzzHarness", dependencies: [
            "VQCodec", "Container", "Images", "Engine", "SafeTensors", "Transforms", "IntegerPrior", "Prior"]),
        .executableTarget(name: "vqcodec-fuzz", dependencies: ["FuzzHarness"]),

        .testTarget(name: "FileIOTests", dependencies: ["FileIO"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images", "CZlib", "FileIO", "SeededRandom"]),
        .testTarget(name: "RangeCoderTests", dependencies: ["RangeCoder", "SeededRandom"]),
        .testTarget(name: "ContainerTests", dependencies: ["Container", "SeededRandom"]),
        .testTarget(name: "SafeTensorsTests", dependencies: ["SafeTensors", "FileIO", "SeededRandom"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "SafeTensors", "SeededRandom"]),
        .testTarget(name: "QuantizerTests", dependencies: ["Quantizer", "Engine", "SeededRandom"]),
        .testTarget(name: "TransformsTests", dependencies: ["Transforms", "Engine", "Quantizer", "SafeTensors", "SeededRandom"]),
        .testTarget(name: "IntegerPriorTests", dependencies: ["IntegerPrior", "CIntegerKernels", "RangeCoder", "SafeTensors"]),
        .testTarget(name: "PriorTests", dependencies: ["Prior", "IntegerPrior", "RangeCoder", "Engine", "SafeTensors", "SeededRandom"]),
        .testTarget(name: "TrainingTests", dependencies: [
            "Training", "Transforms", "Prior", "IntegerPrior", "Quantizer", "Images", "Engine", "SafeTensors", "SeededRandom", "FileIO"]),
        .testTarget(name: "VQCodecTests", dependencies: [
            "VQCodec", "Container", "Engine", "SafeTensors", "IntegerPrior", "Prior", "Transforms", "SeededRandom"]),
        // PyTorch ↔ Swift parity on a model written by Tools/train_torch (Fixtures/parity).
        .testTarget(name: "ParityTests", dependencies: ["Transforms", "Prior", "IntegerPrior", "Engine", "SafeTensors", "Quantizer"]),
        // Replays the fuzz corpus (Fixtures/fuzz) through the harness.
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzHarness"]),
        .testTarget(name: "CLITests", dependencies: [
            "vqcodec", "VQCodec", "Images", "Engine", "SafeTensors", "Container", "SeededRandom"]),
    ]
)
