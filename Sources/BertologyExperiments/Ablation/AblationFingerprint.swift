import BertologyEngine
import Foundation

/// Everything an ablation sweep's numbers depend on, written at the top of its journal: resuming
/// continues a journal only when this run's fingerprint is the same, and `merge` combines parts
/// only when theirs are (the shard, I/N, is kept beside it and compared separately).
///
/// The model and the data are identified by the SHA-256 of their files' contents, not by path, size
/// or modification time: parts of a sweep run on machines where the same checkpoint sits at another
/// path with another mtime (a copy), and a checkpoint saved again with other weights can keep its
/// size. Hashing costs about 0.3 s for all-MiniLM-L6-v2 (90 MB) and 1.5 s for bert-base, nothing
/// against a sweep. The instruction set is part of it too: AVX-512, AVX2 and the scalar path round
/// differently in the last bits, and a merged or resumed sweep must give the numbers of one run
/// (force one with BERTOLOGY_ISA on mixed machines). So is the precision the model ran in: a bf16
/// sweep's scores are not fp32's (docs/PRECISION.md).
public struct AblationFingerprint: Codable, Equatable, Sendable {
    public struct Model: Codable, Equatable, Sendable {
        /// The checkpoint folder's name (reports show it).
        public let name: String
        /// File name -> SHA-256 of config.json, vocab.txt and, when present, model.safetensors, pytorch_model.bin,
        /// tokenizer_config.json.
        public let files: [String: String]
        public let layers: Int
        public let heads: Int
    }

    public struct DataFile: Codable, Equatable, Sendable {
        public let task: String
        public let split: String
        /// `<Task folder>/<file>`, for example `STS-B/dev.tsv`.
        public let file: String
        public let sha256: String
        /// Examples evaluated (after sampling).
        public let examples: Int
        /// The sample's size and seed when a sample was asked for.
        public let limit: Int?
        public let seed: UInt64?
    }

    public struct Evaluation: Codable, Equatable, Sendable {
        public let scorer: String
        /// Truncation length, specials included.
        public let maxLength: Int
        public let tokenBudget: Int
        public let maxBatchSize: Int
        /// The caller's label names, when given.
        public let labels: [String]?

        enum CodingKeys: String, CodingKey {
            case scorer, labels
            case maxLength = "max_length"
            case tokenBudget = "token_budget"
            case maxBatchSize = "max_batch_size"
        }
    }

    public let bertology: String
    /// The kernels' instruction set (scalar, avx2, avx512).
    public let kernels: String
    /// The model's precision (fp32, bf16, bf16x3); nil in journals written before it was recorded
    /// (such a journal differs from every run now, as any other changed field makes it differ).
    public let precision: String?
    public let model: Model
    public let data: DataFile
    public let evaluation: Evaluation
    /// zero or uniform.
    public let mode: String
    /// `all`, `none` or the heads in the paper's notation (AblationPlan.headSpec).
    public let heads: String
    /// `all`, `none` or the layers (AblationPlan.layerSpec).
    public let layers: String

    /// The fingerprint of a sweep of `plan` over `evaluation`.
    static func make(evaluation: PreparedEvaluation, plan: AblationPlan, options: EvaluationOptions) throws -> AblationFingerprint {
        let checkpoint = evaluation.checkpoint
        let files = try modelFiles(checkpoint)
        let dataset = evaluation.dataset
        let file = dataset.file.deletingLastPathComponent().lastPathComponent + "/" + dataset.file.lastPathComponent
        let batcher = evaluation.sequences.batcher
        return AblationFingerprint(
            bertology: BertologyVersion.current, kernels: KernelISA.active.rawValue,
            precision: checkpoint.model.precision.rawValue,
            model: Model(name: checkpoint.name, files: files, layers: plan.layerCount, heads: plan.headCount),
            data: DataFile(task: dataset.task.rawValue, split: dataset.split.rawValue, file: file,
                           sha256: try SHA256.hex(file: dataset.file), examples: dataset.count,
                           limit: dataset.sampling?.limit, seed: dataset.sampling?.seed),
            evaluation: Evaluation(scorer: evaluation.scorer.rawValue, maxLength: evaluation.maxLength,
                                   tokenBudget: batcher.tokenBudget, maxBatchSize: batcher.maxBatchSize,
                                   labels: options.labels),
            mode: plan.mode.rawValue, heads: plan.headSpec, layers: plan.layerSpec)
    }

    /// File name -> SHA-256 of the checkpoint's files that define the model (``Model/files``).
    static func modelFiles(_ checkpoint: Checkpoint) throws -> [String: String] {
        var files: [String: String] = [:]
        for name in ["config.json", "vocab.txt", "model.safetensors", "pytorch_model.bin", "tokenizer_config.json"] {
            let url = checkpoint.folder.appendingPathComponent(name)
            guard FileManager.default.fileExists(atPath: url.path) else { continue }
            files[name] = try SHA256.hex(file: url)
        }
        return files
    }

    /// What differs from `other`, one entry per field: `mode: uniform, not zero`. Empty when equal.
    public func differences(from other: AblationFingerprint) -> [String] {
        let mine = Self.flatten(self), theirs = Self.flatten(other)
        return Set(mine.keys).union(theirs.keys).sorted().compactMap { key in
            let (a, b) = (mine[key] ?? "(none)", theirs[key] ?? "(none)")
            return a == b ? nil : "\(key): \(a), not \(b)"
        }
    }

    /// Dotted key paths to values, from the JSON encoding.
    private static func flatten(_ fingerprint: AblationFingerprint) -> [String: String] {
        guard let data = try? JSONOutput.encode(fingerprint),
              let object = try? JSONSerialization.jsonObject(with: data) else { return [:] }
        var result: [String: String] = [:]
        func walk(_ value: Any, _ path: String) {
            if let dictionary = value as? [String: Any] {
                for (key, child) in dictionary { walk(child, path.isEmpty ? key : "\(path).\(key)") }
            } else if let array = value as? [Any] {
                result[path] = array.map { "\($0)" }.joined(separator: ",")
            } else if value is NSNull {
                result[path] = "(none)"
            } else {
                result[path] = "\(value)"
            }
        }
        walk(object, "")
        return result
    }
}
