import XCTest
@testable import Engine

final class EnginePlaceholderTests: XCTestCase {}
