import XCTest
@testable import Images

final class ImagesPlaceholderTests: XCTestCase {}
