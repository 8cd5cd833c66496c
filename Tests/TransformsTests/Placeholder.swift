import XCTest

final class TransformsPlaceholderTests: XCTestCase {}
