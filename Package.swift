// swift-tools-version:6.0
// vqcodec: a learned image codec (VQ-VAE + PixelCNN prior + range coder).
// Modules follow the data flow (see ../shared/DESIGN.md): dependencies point forward only.
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
        // Images: the codec's image type and PNG reading/writing through libpng.
        .target(name: "Images", dependencies: ["CPNG", "FileIO"]),
        // Learning engine: tensors, layers with backward passes, optimisers, safetensors.
        .target(name: "Engine", dependencies: [
            .target(name: "CBLAS", condition: .when(platforms: [.linux, .windows, .android])),
            "FileIO",
        ]),
        // Vector quantisation: codebooks, nearest-code search, EMA updates, usage statistics.
        .target(name: "Quantizer", dependencies: ["Engine"]),
        // The VQ-VAE: analysis transform, quantizer, synthesis transform; its model-file tensors.
        .target(name: "Transforms", dependencies: ["Engine", "Quantizer"]),
        // Entropy coding: integer frequency tables and a 64-bit range coder.
        .target(name: "RangeCoder"),
        // The PixelCNN prior: float model for training, integer model for coding.
        .target(name: "Prior", dependencies: ["Engine", "RangeCoder"]),
        // The .vqc container: header, tile table, CRCs, limits.
        .target(name: "Container", dependencies: ["CZlib"]),
        // Training loops: data, crops, checkpoints, progress.
        .target(name: "Training", dependencies: ["Transforms", "Prior", "Quantizer", "Images", "Engine", "FileIO"]),
        // The trained models that ship with vqcodec: Models/shipped/ (the catalogue levels.json and
        // every model file it names), copied as a whole next to the executable.
        .target(name: "ShippedModels", path: "Models", exclude: ["README.md"], resources: [.copy("shipped")]),
        // Public API for other Swift programs: models, encode and decode pipelines.
        .target(name: "VQCodec", dependencies: [
            "ShippedModels", "Images", "Transforms", "Quantizer", "Prior", "RangeCoder", "Container", "Engine", "FileIO"]),
        // The command-line tool: one file per subcommand.
        .executableTarget(name: "vqcodec", dependencies: [
            "VQCodec", "ShippedModels", "Training", "Images", "Container", "RangeCoder", "Prior", "Transforms", "Engine", "FileIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        // Fuzzing (Fixtures/fuzz/README.md): entry points that feed untrusted bytes to the .vqc,
        // PNG and model-file readers, and the libFuzzer executable Tools/fuzz.sh builds around them.
        .target(name: "FuzzHarness", dependencies: ["VQCodec", "Container", "Images", "Engine", "Transforms", "Prior"]),
        .executableTarget(name: "vqcodec-fuzz", dependencies: ["FuzzHarness"]),

        .testTarget(name: "FileIOTests", dependencies: ["FileIO"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images"]),
        .testTarget(name: "RangeCoderTests", dependencies: ["RangeCoder"]),
        .testTarget(name: "ContainerTests", dependencies: ["Container"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "QuantizerTests", dependencies: ["Quantizer"]),
        .testTarget(name: "TransformsTests", dependencies: ["Transforms"]),
        .testTarget(name: "PriorTests", dependencies: ["Prior"]),
        .testTarget(name: "TrainingTests", dependencies: ["Training"]),
        .testTarget(name: "VQCodecTests", dependencies: ["VQCodec"]),
        // PyTorch ↔ Swift parity on a model written by Tools/train_torch (Fixtures/parity).
        .testTarget(name: "ParityTests", dependencies: ["Transforms", "Prior", "Engine", "Quantizer"]),
        // Replays the fuzz corpus (Fixtures/fuzz) through the harness.
        .testTarget(name: "FuzzCorpusTests", dependencies: ["FuzzHarness"]),
        .testTarget(name: "CLITests", dependencies: ["vqcodec", "VQCodec", "Images", "Engine", "Container"]),
    ]
)
