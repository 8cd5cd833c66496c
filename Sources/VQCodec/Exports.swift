// Types that appear in VQCodec's public API come with it: `import VQCodec` is enough.
@_exported import struct Images.Image
@_exported import enum Images.PNG
@_exported import struct Container.VQCHeader
@_exported import enum Container.ContainerError
@_exported import enum ShippedModels.ShippedModels
@_exported import enum ShippedModels.ShippedModelsError
@_exported import struct Quantizer.CodebookUsage
@_exported import struct Container.ProgressiveVQCHeader
@_exported import struct Container.ProgressiveVQCHeaderFields
@_exported import struct Container.VQCStage
@_exported import struct Transforms.ProgressiveConfiguration
