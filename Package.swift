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
        // Entropy coding: integer frequency tables and a 64-bit range coder.
        .target(name: "RangeCoder"),
        // The .vqc container: header, tile table, CRCs, limits.
        .target(name: "Container", dependencies: ["CZlib"]),
        // Public API for other Swift programs.
        .target(name: "VQCodec", dependencies: ["Images", "Container", "RangeCoder", "FileIO"]),
        // The command-line tool: one file per subcommand.
        .executableTarget(name: "vqcodec", dependencies: [
            "VQCodec", "Images", "Container", "RangeCoder", "Engine", "FileIO",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .testTarget(name: "FileIOTests", dependencies: ["FileIO"]),
        .testTarget(name: "ImagesTests", dependencies: ["Images"]),
        .testTarget(name: "RangeCoderTests", dependencies: ["RangeCoder"]),
        .testTarget(name: "ContainerTests", dependencies: ["Container"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine"]),
        .testTarget(name: "QuantizerTests", dependencies: ["Quantizer"]),
        .testTarget(name: "CLITests", dependencies: ["vqcodec"]),
    ]
)
