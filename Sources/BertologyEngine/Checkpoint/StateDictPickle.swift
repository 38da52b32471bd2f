import Foundation

/// The part of Python's pickle format a `torch.save` state dict is written in, and nothing more.
///
/// This is not an unpickler: it calls nothing. It reads the opcodes a state dict needs (dicts, lists,
/// tuples, strings, integers, booleans, None, the memo, persistent storage ids) and builds the few
/// objects a state dict is made of: `collections.OrderedDict()`, a tensor from
/// `torch._utils._rebuild_tensor_v2` (or `_rebuild_tensor`, `_rebuild_parameter`) and a storage type
/// (`torch.FloatStorage`, ...). Any other opcode (INST, OBJ, NEWOBJ, EXT, ...), any other global, and
/// a REDUCE on anything but those callables is refused with an error naming the byte and the opcode.
/// Values live in one flat table (`objects`), so no input can make the reader recurse or leak.
struct StateDictPickle {
    /// A value on the pickle's stack.
    enum Value {
        case none
        case bool(Bool)
        case int(Int)
        /// An integer wider than 64 bits (LONG1), its bytes little-endian two's complement.
        case bigInt([UInt8])
        case string(String)
        /// A global the allow-list names (`module`, `name`).
        case global(String, String)
        /// An entry of `objects`.
        case object(Int)
    }

    enum Object {
        case tuple([Value])
        case list([Value])
        case dict(DictItems)
        case storage(Storage)
        case tensor(TensorReference)
    }

    /// A dict's items in insertion order; a later SETITEM of the same string key replaces the value, as in Python.
    struct DictItems {
        private(set) var pairs: [(key: Value, value: Value)] = []
        private var indexOfName: [String: Int] = [:]

        mutating func set(_ key: Value, _ value: Value) {
            if case .string(let name) = key {
                if let index = indexOfName[name] {
                    pairs[index].value = value
                    return
                }
                indexOfName[name] = pairs.count
            }
            pairs.append((key, value))
        }
    }

    /// A storage named by a persistent id: `('storage', torch.FloatStorage, key, location, numel[, view])`.
    struct Storage {
        let key: String
        let dtype: SafeTensorsDType
        /// Elements of the whole storage (the record's size in elements).
        let elements: Int
        /// Where this storage begins inside the stored one, in elements (a legacy storage view), and its length.
        let viewOffset: Int
        let viewElements: Int
    }

    struct TensorReference {
        let storage: Storage
        /// In elements, from the start of `storage`.
        let offset: Int
        let shape: [Int]
        let strides: [Int]
    }

    /// The storage types a persistent id may name, by dtype. Only F32, F16, BF16 (weights) and
    /// I64, I32 (buffers) are read; the others are named so a file holding them gets the same
    /// "unsupported dtype" error as a safetensors file, not a pickle error.
    static let storageTypes: [String: SafeTensorsDType] = [
        "FloatStorage": .f32, "HalfStorage": .f16, "BFloat16Storage": .bf16, "LongStorage": .i64,
        "IntStorage": .i32, "DoubleStorage": .f64, "ShortStorage": .i16, "CharStorage": .i8,
        "ByteStorage": .u8, "BoolStorage": .bool,
    ]
    static let callables: Set<String> = [
        "collections.OrderedDict", "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor",
        "torch._utils._rebuild_parameter",
    ]

    /// The objects the values refer to.
    private(set) var objects: [Object] = []

    private let base: UnsafeRawPointer
    private let end: Int
    private let file: String
    /// Where the pickle's first byte is, to name positions inside it ("data.pkl byte 12") or in the file ("byte 12").
    private let origin: Int
    private let place: String

    /// - Parameters:
    ///   - base, end: the file's bytes; a pickle may run up to `end`.
    ///   - file: the path, for errors.
    ///   - origin, place: positions are named `"\(place)byte \(offset - origin)"` ("archive/data.pkl byte 12").
    init(base: UnsafeRawPointer, end: Int, file: String, origin: Int = 0, place: String = "") {
        self.base = base
        self.end = end
        self.file = file
        self.origin = origin
        self.place = place
    }

    private func location(_ offset: Int) -> String { "\(place)byte \(offset - origin)" }

    private func error(_ offset: Int, _ reason: String) -> BertologyError {
        BertologyError.badInput(file, at: location(offset), reason)
    }

    /// Reads one pickle starting at `start`, up to and including its STOP.
    /// - Returns: the pickled value and the offset after STOP.
    mutating func read(at start: Int) throws -> (value: Value, end: Int) {
        var stack: [Value] = []
        var marks: [Int] = []
        var memo: [Int: Value] = [:]
        var position = start

        while true {
            let at = position
            guard position < end else {
                throw error(at, "the pickle ends without STOP (the file is cut short)")
            }
            let opcode = base.load(fromByteOffset: position, as: UInt8.self)
            position += 1
            let name = Self.opcodeName(opcode)

            func take(_ count: Int) throws -> UnsafeRawPointer {
                guard count >= 0, count <= end - position else {
                    throw error(at, "pickle opcode \(name) needs \(count) bytes, the file has \(end - position) left")
                }
                defer { position += count }
                return base + position
            }
            func u8() throws -> Int { Int(try take(1).load(as: UInt8.self)) }
            func u16() throws -> Int { Int(UInt16(littleEndian: try take(2).loadUnaligned(as: UInt16.self))) }
            func u32() throws -> Int { Int(UInt32(littleEndian: try take(4).loadUnaligned(as: UInt32.self))) }
            func line() throws -> String {
                var length = 0
                while position + length < end, base.load(fromByteOffset: position + length, as: UInt8.self) != 0x0A {
                    length += 1
                    guard length <= 256 else { throw error(at, "pickle opcode \(name): a name longer than 256 bytes") }
                }
                let bytes = try take(length + 1)
                return String(decoding: UnsafeRawBufferPointer(start: bytes, count: length), as: UTF8.self)
            }
            func pop() throws -> Value {
                guard let value = stack.popLast(), stack.count >= (marks.last ?? 0) else {
                    throw error(at, "pickle opcode \(name) finds no value to take (a malformed pickle)")
                }
                return value
            }
            func top() throws -> Value {
                guard let value = stack.last, stack.count > (marks.last ?? 0) else {
                    throw error(at, "pickle opcode \(name) finds no value to take (a malformed pickle)")
                }
                return value
            }
            func popToMark() throws -> [Value] {
                guard let mark = marks.popLast() else {
                    throw error(at, "pickle opcode \(name) has no MARK before it (a malformed pickle)")
                }
                defer { stack.removeSubrange(mark...) }
                return Array(stack[mark...])
            }
            func string(_ count: Int) throws -> Value {
                let bytes = try take(count)
                guard let text = String(validating: UnsafeRawBufferPointer(start: bytes, count: count), as: UTF8.self) else {
                    throw error(at, "pickle opcode \(name): the string is not UTF-8")
                }
                return .string(text)
            }
            func makeObject(_ object: Object) -> Value {
                objects.append(object)
                return .object(objects.count - 1)
            }
            func put(_ index: Int) throws {
                memo[index] = try top()
            }
            func get(_ index: Int) throws {
                guard let value = memo[index] else {
                    throw error(at, "pickle opcode \(name) asks for memo entry \(index), which was never stored")
                }
                stack.append(value)
            }
            func addItems(_ items: [Value]) throws {
                guard items.count % 2 == 0 else {
                    throw error(at, "pickle opcode \(name) has an odd number of keys and values")
                }
                guard case .object(let index) = try top(), case .dict(var pairs) = objects[index] else {
                    throw error(at, "pickle opcode \(name) adds items to something that is not a dict")
                }
                objects[index] = .list([])  // drop the table's reference while the items grow (no copy)
                for offset in stride(from: 0, to: items.count, by: 2) { pairs.set(items[offset], items[offset + 1]) }
                objects[index] = .dict(pairs)
            }
            func appendItems(_ items: [Value]) throws {
                guard case .object(let index) = try top(), case .list(var values) = objects[index] else {
                    throw error(at, "pickle opcode \(name) appends to something that is not a list")
                }
                objects[index] = .tuple([])
                values += items
                objects[index] = .list(values)
            }

            switch opcode {
            case 0x80:  // PROTO
                let version = try u8()
                guard version <= 5 else { throw error(at, "pickle protocol \(version) is not one Python writes (0-5)") }
            case 0x95:  // FRAME: a length hint, no value
                _ = try take(8)
            case 0x2E:  // STOP
                let value = try pop()
                return (value, position)
            case 0x28:  // MARK
                marks.append(stack.count)
            case 0x7D: stack.append(makeObject(.dict(DictItems())))  // EMPTY_DICT
            case 0x5D: stack.append(makeObject(.list([])))  // EMPTY_LIST
            case 0x29: stack.append(makeObject(.tuple([])))  // EMPTY_TUPLE
            case 0x74: stack.append(makeObject(.tuple(try popToMark())))  // TUPLE
            case 0x85, 0x86, 0x87:  // TUPLE1, TUPLE2, TUPLE3
                var items: [Value] = []
                for _ in 0..<Int(opcode - 0x84) { items.insert(try pop(), at: 0) }
                stack.append(makeObject(.tuple(items)))
            case 0x71: try put(try u8())  // BINPUT
            case 0x72: try put(try u32())  // LONG_BINPUT
            case 0x94: try put(memo.count)  // MEMOIZE
            case 0x68: try get(try u8())  // BINGET
            case 0x6A: try get(try u32())  // LONG_BINGET
            case 0x4A: stack.append(.int(Int(Int32(bitPattern: UInt32(try u32())))))  // BININT
            case 0x4B: stack.append(.int(try u8()))  // BININT1
            case 0x4D: stack.append(.int(try u16()))  // BININT2
            case 0x8A:  // LONG1
                let count = try u8()
                let bytes = Array(UnsafeRawBufferPointer(start: try take(count), count: count))
                if count <= 8 {
                    var value: Int = 0
                    for (index, byte) in bytes.enumerated() { value |= Int(byte) << (8 * index) }
                    if count > 0, count < 8, bytes[count - 1] & 0x80 != 0 { value -= 1 << (8 * count) }
                    stack.append(.int(value))
                } else {
                    stack.append(.bigInt(bytes))
                }
            case 0x58: stack.append(try string(try u32()))  // BINUNICODE
            case 0x8C: stack.append(try string(try u8()))  // SHORT_BINUNICODE
            case 0x88: stack.append(.bool(true))  // NEWTRUE
            case 0x89: stack.append(.bool(false))  // NEWFALSE
            case 0x4E: stack.append(.none)  // NONE
            case 0x63:  // GLOBAL
                let module = try line(), global = try line()
                stack.append(try allowedGlobal(module, global, at: at))
            case 0x93:  // STACK_GLOBAL
                let global = try pop(), module = try pop()
                guard case .string(let moduleName) = module, case .string(let globalName) = global else {
                    throw error(at, "pickle opcode STACK_GLOBAL expects two strings")
                }
                stack.append(try allowedGlobal(moduleName, globalName, at: at))
            case 0x51:  // BINPERSID
                stack.append(makeObject(.storage(try storage(from: try pop(), at: at))))
            case 0x52:  // REDUCE
                let arguments = try pop(), callable = try pop()
                stack.append(try reduce(callable, arguments, at: at))
            case 0x62:  // BUILD: only an OrderedDict's attributes (a state dict's _metadata), which are dropped
                _ = try pop()
                guard case .object(let index) = try top(), case .dict = objects[index] else {
                    throw error(at, "pickle opcode BUILD sets the state of something that is not a dict (a state dict has only OrderedDict's _metadata)")
                }
            case 0x73:  // SETITEM
                let value = try pop(), key = try pop()
                try addItems([key, value])
            case 0x75: try addItems(try popToMark())  // SETITEMS
            case 0x61: try appendItems([try pop()])  // APPEND
            case 0x65: try appendItems(try popToMark())  // APPENDS
            default:
                throw error(at, "pickle opcode \(name) is not allowed: a state dict needs only dicts, lists, tuples, strings, "
                    + "numbers and tensors (nothing was run)")
            }
        }
    }

    private func allowedGlobal(_ module: String, _ name: String, at offset: Int) throws -> Value {
        let full = "\(module).\(name)"
        if Self.callables.contains(full) || (module == "torch" && Self.storageTypes[name] != nil) {
            return .global(module, name)
        }
        throw error(offset, "pickle global \(full) is not allowed: a state dict needs only collections.OrderedDict, "
            + "torch._utils._rebuild_tensor_v2 and torch storage types (nothing was run)")
    }

    private func integer(_ value: Value) -> Int? {
        if case .int(let number) = value { return number }
        return nil
    }

    private func integers(_ value: Value) -> [Int]? {
        guard case .object(let index) = value, case .tuple(let items) = objects[index] else { return nil }
        let numbers = items.compactMap(integer)
        return numbers.count == items.count ? numbers : nil
    }

    /// A persistent id: `('storage', storage type, key, location, numel)`, and in the legacy format a
    /// sixth item, None or a view `(view key, offset, numel)`.
    private func storage(from pid: Value, at offset: Int) throws -> Storage {
        let malformed = "a persistent id must be ('storage', a torch storage type, key, location, size)"
        guard case .object(let index) = pid, case .tuple(let items) = objects[index], items.count == 5 || items.count == 6,
              case .string("storage") = items[0], case .global("torch", let typeName) = items[1],
              let dtype = Self.storageTypes[typeName], case .string(let key) = items[2], case .string = items[3],
              let elements = integer(items[4]), elements >= 0 else {
            throw error(offset, "pickle opcode BINPERSID: \(malformed)")
        }
        var viewOffset = 0, viewElements = elements
        if items.count == 6, case .object(let view) = items[5] {
            guard case .tuple(let parts) = objects[view], parts.count == 3, case .string = parts[0],
                  let start = integer(parts[1]), let count = integer(parts[2]),
                  start >= 0, count >= 0, start <= elements, count <= elements - start else {
                throw error(offset, "pickle opcode BINPERSID: a storage view must be (key, offset, size) inside its storage of \(elements) elements")
            }
            (viewOffset, viewElements) = (start, count)
        } else if items.count == 6, case .none = items[5] {
        } else if items.count == 6 {
            throw error(offset, "pickle opcode BINPERSID: \(malformed)")
        }
        return Storage(key: key, dtype: dtype, elements: elements, viewOffset: viewOffset, viewElements: viewElements)
    }

    private mutating func reduce(_ callable: Value, _ arguments: Value, at offset: Int) throws -> Value {
        func make(_ object: Object) -> Value {
            objects.append(object)
            return .object(objects.count - 1)
        }
        guard case .global(let module, let name) = callable, Self.callables.contains("\(module).\(name)") else {
            let what: String
            if case .global(let module, let name) = callable { what = "\(module).\(name)" } else { what = "something that is not a function" }
            throw error(offset, "pickle opcode REDUCE calls \(what), which is not allowed: a state dict calls only "
                + "collections.OrderedDict and torch._utils._rebuild_tensor_v2 (nothing was run)")
        }
        guard case .object(let index) = arguments, case .tuple(let items) = objects[index] else {
            throw error(offset, "pickle opcode REDUCE: the arguments of \(module).\(name) are not a tuple")
        }
        switch name {
        case "OrderedDict":
            guard items.isEmpty else { throw error(offset, "pickle opcode REDUCE: collections.OrderedDict is called with arguments") }
            return make(.dict(DictItems()))
        case "_rebuild_parameter":
            // (tensor, requires_grad, backward_hooks): the tensor itself.
            guard items.count == 3, case .object(let tensor) = items[0], case .tensor = objects[tensor] else {
                throw error(offset, "pickle opcode REDUCE: torch._utils._rebuild_parameter expects (tensor, requires_grad, hooks)")
            }
            return items[0]
        default:
            // _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]); _rebuild_tensor: the first four.
            let counts = name == "_rebuild_tensor" ? [4] : [6, 7]
            guard counts.contains(items.count), case .object(let storageIndex) = items[0],
                  case .storage(let storage) = objects[storageIndex], let start = integer(items[1]), start >= 0,
                  let shape = integers(items[2]), let strides = integers(items[3]), shape.count == strides.count,
                  shape.allSatisfy({ $0 >= 0 }) else {
                throw error(offset, "pickle opcode REDUCE: torch._utils.\(name) expects (storage, offset, size, stride, ...)")
            }
            return make(.tensor(TensorReference(storage: storage, offset: start, shape: shape, strides: strides)))
        }
    }

    /// The opcode's name in Python's pickletools, and its byte.
    static func opcodeName(_ opcode: UInt8) -> String {
        let names: [UInt8: String] = [
            0x28: "MARK", 0x2E: "STOP", 0x30: "POP", 0x31: "POP_MARK", 0x32: "DUP", 0x46: "FLOAT", 0x49: "INT",
            0x4A: "BININT", 0x4B: "BININT1", 0x4C: "LONG", 0x4D: "BININT2", 0x4E: "NONE", 0x50: "PERSID",
            0x51: "BINPERSID", 0x52: "REDUCE", 0x53: "STRING", 0x54: "BINSTRING", 0x55: "SHORT_BINSTRING",
            0x56: "UNICODE", 0x58: "BINUNICODE", 0x61: "APPEND", 0x62: "BUILD", 0x63: "GLOBAL", 0x64: "DICT",
            0x7D: "EMPTY_DICT", 0x65: "APPENDS", 0x67: "GET", 0x68: "BINGET", 0x69: "INST", 0x6A: "LONG_BINGET",
            0x6C: "LIST", 0x5D: "EMPTY_LIST", 0x6F: "OBJ", 0x70: "PUT", 0x71: "BINPUT", 0x72: "LONG_BINPUT",
            0x73: "SETITEM", 0x74: "TUPLE", 0x29: "EMPTY_TUPLE", 0x75: "SETITEMS", 0x47: "BINFLOAT",
            0x80: "PROTO", 0x81: "NEWOBJ", 0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x85: "TUPLE1",
            0x86: "TUPLE2", 0x87: "TUPLE3", 0x88: "NEWTRUE", 0x89: "NEWFALSE", 0x8A: "LONG1", 0x8B: "LONG4",
            0x42: "BINBYTES", 0x43: "SHORT_BINBYTES", 0x8C: "SHORT_BINUNICODE", 0x8D: "BINUNICODE8",
            0x8E: "BINBYTES8", 0x8F: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET", 0x92: "NEWOBJ_EX",
            0x93: "STACK_GLOBAL", 0x94: "MEMOIZE", 0x95: "FRAME", 0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER",
            0x98: "READONLY_BUFFER",
        ]
        let hex = "0x" + String(opcode, radix: 16, uppercase: true).leftPadded(to: 2)
        return names[opcode].map { "\($0) (\(hex))" } ?? "\(hex) (not a pickle opcode)"
    }
}

private extension String {
    func leftPadded(to width: Int) -> String { String(repeating: "0", count: max(0, width - count)) + self }
}
