import XCTest

final class VQCodecPlaceholderTests: XCTestCase {}
