import XCTest
@testable import Container

final class ContainerPlaceholderTests: XCTestCase {}
