import Bertology
import Foundation

// Temporary smoke driver (replaced by the ArgumentParser CLI).
let model = try BertModel.load(folder: URL(fileURLWithPath: "models/all-MiniLM-L6-v2"))
let ids: [[Int32]] = [[101, 1037, 2158, 2003, 2652, 1037, 2858, 1012, 102, 2619, 3248, 2189, 1012, 102], [101, 1996, 4248, 2829, 4419, 14523, 2058, 1996, 13971, 3899, 2379, 1996, 2314, 2924, 1012, 102, 2619, 3248, 2189, 1012, 102]]
let types: [[Int32]] = [[0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1], [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1]]
final class Keep: AttentionObserver {
    var all: [Float] = []
    func observe(_ a: LayerAttention) { all += Array(a.probabilities) }
}
let session = InferenceSession(model: model)
let keep = Keep()
try session.forward(Batch(inputIds: ids, tokenTypeIds: types), observer: keep)
var hidden: [Float] = []
session.withLastHiddenState { hidden = Array($0) }
try NPY.encode(hidden, shape: [2, 21, 384]).write(to: URL(fileURLWithPath: "/tmp/our_h.npy"))
try NPY.encode(keep.all, shape: [6, 2, 12, 21, 21]).write(to: URL(fileURLWithPath: "/tmp/our_a.npy"))
