import XCTest
@testable import RangeCoder

final class RangeCoderPlaceholderTests: XCTestCase {}
