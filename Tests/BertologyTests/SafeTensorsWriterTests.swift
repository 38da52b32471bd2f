import Foundation
import Testing
@testable import BertologyEngine
@testable import BertologyExperiments

/// The safetensors writer writes what `safetensors.torch.save_file` writes (the committed file from
/// tools/reference/safetensors_writer_reference.py), and our reader reads it back.
@Suite struct SafeTensorsWriterTests {
    /// The tensors of the reference script: values i * scale - 1, names out of order.
    static func referenceTensors() -> [(name: String, tensor: Tensor)] {
        func formula(_ shape: [Int], _ scale: Float) -> Tensor {
            let count = shape.reduce(1, *)
            return Tensor(shape: shape, values: (0..<count).map { Float($0) * scale - 1 })
        }
        return [("classifier.weight", formula([3, 5], 0.25)),
                ("bert.embeddings.word_embeddings.weight", formula([7, 5], 0.5)),
                ("classifier.bias", formula([3], 1)),
                ("a/b \"quoted\"", formula([1], 2)),
                ("bert.pooler.dense.weight", formula([5, 5], -0.125))]
    }

    @Test func writesTheBytesTorchSaveFileWrites() throws {
        let expected = try Data(contentsOf: TestPaths.fixture("reference/safetensors-writer/torch.safetensors"))
        let written = SafeTensorsWriter.encode(Self.referenceTensors())
        #expect(written == expected)
    }

    @Test func writtenFileReadsBackWithEveryValue() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-st-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("model.safetensors")
        let tensors = Self.referenceTensors()
        try SafeTensorsWriter.write(tensors, to: url)
        // Atomic: no temporary file is left beside it.
        #expect(try FileManager.default.contentsOfDirectory(atPath: folder.path) == ["model.safetensors"])
        let file = try SafeTensorsFile(url: url)
        #expect(Set(file.entries.keys) == Set(tensors.map(\.name)))
        for (name, tensor) in tensors {
            let entry = try #require(file.entries[name])
            #expect(entry.shape == tensor.shape)
            #expect(try file.floatTensor(entry).array == tensor.array)
        }
        let header = try Data(contentsOf: url)
        let length = header.prefix(8).withUnsafeBytes { $0.loadUnaligned(as: UInt64.self).littleEndian }
        #expect(length % 8 == 0, "the header is padded to a multiple of 8")
    }
}
