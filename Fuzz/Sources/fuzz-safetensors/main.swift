import Bertology
@_spi(Fuzzing) import BertologyEngine
import Foundation
import FuzzSupport

// model.safetensors: the header, the tensor table, every tensor's conversion, and the weights of a
// small model looked up by name and checked by shape. Any bytes give weights or a one-line error.
//
// Two input forms, so mutations of the JSON header are not all lost to a wrong length prefix:
// - a whole file (8-byte little-endian header length, header, data);
// - input starting with "{": the header alone; the harness adds the length and a data section of
//   `dataSize` zero bytes, the size of the corpus checkpoint's (Tests/MalformedInputs/valid).

/// The architecture of Tests/MalformedInputs/valid (tools/make-malformed-corpus), whose
/// model.safetensors is the main seed.
let config = BertConfig(vocabSize: 16, hiddenSize: 4, numHiddenLayers: 1, numAttentionHeads: 2,
                        intermediateSize: 8, maxPositionEmbeddings: 16, typeVocabSize: 2,
                        numLabels: 2, id2label: [0: "negative", 1: "positive"])
let dataSize = 1_512

// One file per process (libFuzzer -jobs/-workers run several), on tmpfs when there is one.
let folder = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
let url = URL(fileURLWithPath: "\(folder)/bertology-fuzz-\(getpid()).safetensors")

runFuzzTarget { input in
    var file = Data()
    if input.first == UInt8(ascii: "{") {
        withUnsafeBytes(of: UInt64(input.count).littleEndian) { file.append(contentsOf: $0) }
        file.append(input)
        file.append(Data(count: dataSize))
    } else {
        file = input
    }
    try! file.write(to: url)
    defer { try? FileManager.default.removeItem(at: url) }
    try FuzzEntryPoints.safeTensors(at: url, config: config)
}
