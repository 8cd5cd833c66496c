import XCTest

final class PriorPlaceholderTests: XCTestCase {}
