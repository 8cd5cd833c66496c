// A strict JSON (RFC 8259) parser for safetensors headers, which are untrusted input.
//
// Why not Foundation's JSONSerialization: it turns numbers into NSNumber/Double, so 2^64 or
// 3.0 in a shape cannot be told from a valid integer without guessing at bridging rules that
// differ between Darwin and Linux; it keeps the last of duplicate keys silently; and its errors
// carry no byte offset. This parser keeps numbers as their text (the schema checks decide what
// an integer is, exactly), rejects duplicate keys, bounds nesting depth, validates UTF-8, and
// reports the byte offset of the first error. It allocates in proportion to the header, whose
// size is checked against a limit before parsing.

/// A parsed JSON value. Numbers keep their text; objects keep members in file order.
enum JSONValue {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([(key: String, value: JSONValue)])

    /// What the value is, for messages ("a number 3.5", "an array").
    var summary: String {
        switch self {
        case .null: return "null"
        case .bool(let b): return "the boolean \(b)"
        case .number(let text): return "the number \(text)"
        case .string(let s): return "the string \"\(s.count > 40 ? String(s.prefix(40)) + "…" : s)\""
        case .array: return "an array"
        case .object: return "an object"
        }
    }
}

struct JSONParser {
    /// Deepest nesting accepted. A safetensors header needs 3 (header, entry, shape).
    static let maxDepth = 32

    private let bytes: [UInt8]
    private let start: Int
    private let end: Int
    private var position: Int

    /// Parses `bytes[range]` as one JSON value, allowing whitespace (the padding) around it.
    static func parse(_ bytes: [UInt8], range: Range<Int>) throws(SafeTensorsError) -> JSONValue {
        var parser = JSONParser(bytes: bytes, start: range.lowerBound, end: range.upperBound, position: range.lowerBound)
        parser.skipWhitespace()
        let value = try parser.parseValue(depth: 0)
        parser.skipWhitespace()
        if parser.position != parser.end { throw parser.failure("unexpected text after the JSON value") }
        return value
    }

    private func failure(_ reason: String) -> SafeTensorsError {
        .invalidJSON(offset: position - start, reason: reason)
    }

    private mutating func skipWhitespace() {
        while position < end, bytes[position] == 0x20 || bytes[position] == 0x0A || bytes[position] == 0x0D || bytes[position] == 0x09 {
            position += 1
        }
    }

    private mutating func parseValue(depth: Int) throws(SafeTensorsError) -> JSONValue {
        guard position < end else { throw failure("the header ends where a value should begin") }
        switch bytes[position] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw failure("unexpected byte 0x\(String(bytes[position], radix: 16)) where a value should begin")
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(SafeTensorsError) {
        let count = literal.utf8CodeUnitCount
        guard end - position >= count else { throw failure("unknown literal") }
        for i in 0..<count where bytes[position + i] != literal.utf8Start[i] {
            throw failure("unknown literal")
        }
        position += count
    }

    private mutating func parseObject(depth: Int) throws(SafeTensorsError) -> JSONValue {
        if depth > Self.maxDepth { throw failure("nested deeper than \(Self.maxDepth) levels") }
        position += 1 // {
        var members: [(key: String, value: JSONValue)] = []
        var seen = Set<String>()
        skipWhitespace()
        if position < end, bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
        while true {
            skipWhitespace()
            guard position < end, bytes[position] == UInt8(ascii: "\"") else { throw failure("expected a string key") }
            let key = try parseString()
            if !seen.insert(key).inserted { throw .duplicateKey(key) }
            skipWhitespace()
            guard position < end, bytes[position] == UInt8(ascii: ":") else { throw failure("expected ':' after a key") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue(depth: depth)))
            skipWhitespace()
            guard position < end else { throw failure("the header ends inside an object") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "}") { position += 1; return .object(members) }
            throw failure("expected ',' or '}' in an object")
        }
    }

    private mutating func parseArray(depth: Int) throws(SafeTensorsError) -> JSONValue {
        if depth > Self.maxDepth { throw failure("nested deeper than \(Self.maxDepth) levels") }
        position += 1 // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if position < end, bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard position < end else { throw failure("the header ends inside an array") }
            if bytes[position] == UInt8(ascii: ",") { position += 1; continue }
            if bytes[position] == UInt8(ascii: "]") { position += 1; return .array(elements) }
            throw failure("expected ',' or ']' in an array")
        }
    }

    /// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?, returned as text.
    private mutating func parseNumber() throws(SafeTensorsError) -> String {
        let first = position
        func digits(_ p: inout Int, _ bytes: [UInt8], _ end: Int) -> Int {
            let from = p
            while p < end, bytes[p] >= UInt8(ascii: "0"), bytes[p] <= UInt8(ascii: "9") { p += 1 }
            return p - from
        }
        if bytes[position] == UInt8(ascii: "-") { position += 1 }
        guard position < end, bytes[position] >= UInt8(ascii: "0"), bytes[position] <= UInt8(ascii: "9") else {
            throw failure("a number needs digits")
        }
        if bytes[position] == UInt8(ascii: "0") {
            position += 1
        } else {
            _ = digits(&position, bytes, end)
        }
        if position < end, bytes[position] == UInt8(ascii: ".") {
            position += 1
            if digits(&position, bytes, end) == 0 { throw failure("a fraction needs digits") }
        }
        if position < end, bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E") {
            position += 1
            if position < end, bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-") { position += 1 }
            if digits(&position, bytes, end) == 0 { throw failure("an exponent needs digits") }
        }
        return String(decoding: bytes[first..<position], as: UTF8.self)
    }

    private mutating func parseString() throws(SafeTensorsError) -> String {
        position += 1 // opening quote
        var text: [UInt8] = []
        while true {
            guard position < end else { throw failure("the header ends inside a string") }
            let byte = bytes[position]
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let string = String(validating: text, as: UTF8.self) else {
                    throw failure("a string is not valid UTF-8")
                }
                return string
            case UInt8(ascii: "\\"):
                position += 1
                guard position < end else { throw failure("the header ends inside an escape") }
                let escaped = bytes[position]
                position += 1
                switch escaped {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): text.append(escaped)
                case UInt8(ascii: "b"): text.append(0x08)
                case UInt8(ascii: "f"): text.append(0x0C)
                case UInt8(ascii: "n"): text.append(0x0A)
                case UInt8(ascii: "r"): text.append(0x0D)
                case UInt8(ascii: "t"): text.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try parseHex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard end - position >= 2, bytes[position] == UInt8(ascii: "\\"), bytes[position + 1] == UInt8(ascii: "u") else {
                            throw failure("a high surrogate is not followed by a low surrogate")
                        }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw failure("a high surrogate is not followed by a low surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw failure("a lone low surrogate")
                    }
                    text.append(contentsOf: Array(String(Character(Unicode.Scalar(scalar)!)).utf8))
                default:
                    position -= 1
                    throw failure("unknown escape")
                }
            case 0x00..<0x20:
                throw failure("a control character inside a string must be escaped")
            default:
                text.append(byte)
                position += 1
            }
        }
    }

    private mutating func parseHex4() throws(SafeTensorsError) -> UInt32 {
        guard end - position >= 4 else { throw failure("a \\u escape needs 4 hex digits") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: throw failure("a \\u escape needs 4 hex digits")
            }
            value = value << 4 | UInt32(digit)
            position += 1
        }
        return value
    }
}

/// Writes `string` as a JSON string the way serde_json (the reference writer) does: `"` and `\`
/// escaped, control characters as \b \t \n \f \r or \u00xx, everything else as raw UTF-8.
func appendJSONString(_ string: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for byte in string.utf8 {
        switch byte {
        case UInt8(ascii: "\""): out.append(contentsOf: [0x5C, 0x22])
        case UInt8(ascii: "\\"): out.append(contentsOf: [0x5C, 0x5C])
        case 0x08: out.append(contentsOf: [0x5C, UInt8(ascii: "b")])
        case 0x09: out.append(contentsOf: [0x5C, UInt8(ascii: "t")])
        case 0x0A: out.append(contentsOf: [0x5C, UInt8(ascii: "n")])
        case 0x0C: out.append(contentsOf: [0x5C, UInt8(ascii: "f")])
        case 0x0D: out.append(contentsOf: [0x5C, UInt8(ascii: "r")])
        case 0x00..<0x20:
            let hex = Array("0123456789abcdef".utf8)
            out.append(contentsOf: Array("\\u00".utf8))
            out.append(hex[Int(byte >> 4)])
            out.append(hex[Int(byte & 0xF)])
        default: out.append(byte)
        }
    }
    out.append(UInt8(ascii: "\""))
}
