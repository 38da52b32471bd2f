import Bertology
@_spi(Fuzzing) import BertologyEngine
import Foundation
import FuzzSupport

// pytorch_model.bin: the ZIP directory (stored records, ZIP64) or the legacy framing (five pickles,
// then the storages), the state dict's pickle (read, never run: every opcode and global outside a
// state dict's is refused), every tensor's conversion, and the weights of a small model looked up by
// name and checked by shape. Any bytes give weights or a one-line error.

/// The architecture of Tests/MalformedInputs/valid (tools/make-malformed-corpus).
let config = BertConfig(vocabSize: 16, hiddenSize: 4, numHiddenLayers: 1, numAttentionHeads: 2,
                        intermediateSize: 8, maxPositionEmbeddings: 16, typeVocabSize: 2,
                        numLabels: 2, id2label: [0: "negative", 1: "positive"])

// One file per process (libFuzzer -jobs/-workers run several), on tmpfs when there is one.
let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
let url = URL(fileURLWithPath: "\(folder)/bertology-fuzz-\(getpid()).bin")

runFuzzTarget { input in
    try! input.write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    try FuzzEntryPoints.torchCheckpoint(at: url, config: config)
}
