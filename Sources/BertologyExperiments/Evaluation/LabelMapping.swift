import BertologyEngine
import Foundation

/// Which task label each output of a checkpoint's classifier predicts.
///
/// Rules, in order:
/// 1. Names given by the caller (`EvaluationOptions.labels`) win.
/// 2. Otherwise the names come from config.json: `id2label`, else `label2id` inverted (both present
///    and disagreeing is an error).
/// 3. Generic names (`LABEL_k`, what transformers writes when none were given) or no names: output
///    `i` is `LABEL_i`, i.e. task label `k`, in the order of `GLUETask.labels` (the original
///    GLUE processors' order that run_classifier.py and run_glue.py trained with).
/// 4. Real names are matched to the task's labels, case-insensitively, ' ' and '-' read as '_',
///    also through the names Hugging Face `datasets` uses (`negative`/`positive` for SST-2 `0`/`1`,
///    `not_equivalent`/`equivalent` for MRPC, ...: `GLUETask.labelSynonyms`). Every output must
///    match a different task label; otherwise it is an error that lists the names.
public struct LabelMapping: Sendable, Equatable, Codable {
    /// How a ``LabelMapping`` was decided (written in the result's JSON as `rule`).
    public enum Rule: String, Sendable, Codable {
        /// Matched by name (id2label / label2id).
        case names
        /// Generic LABEL_k names or none: the task's label order.
        case taskOrder = "task_order"
        /// Names given by the caller.
        case given
    }

    /// `taskLabels[i]` is the index in `GLUETask.labels` that model output `i` predicts.
    public let taskLabels: [Int]
    /// Which of the rules decided the mapping.
    public let rule: Rule
    /// The names the mapping was made from, by model output (generic ones included).
    public let modelLabels: [String]

    enum CodingKeys: String, CodingKey {
        case rule
        case taskLabels = "task_labels"
        case modelLabels = "model_labels"
    }

    /// Decides the mapping for a classification task; errors (usage) say what does not fit.
    /// - Parameters:
    ///   - task: a classification task (not STS-B).
    ///   - config: the checkpoint's configuration (`num_labels`, `id2label`, `label2id`).
    ///   - given: the task label names of the model outputs, in output order; nil to use the config.
    /// - Throws: `BertologyError` `.usage` when the classifier's outputs do not fit the task's labels.
    public static func resolve(task: GLUETask, config: BertConfig, given: [String]? = nil) throws -> LabelMapping {
        guard let labels = task.labels else {
            throw BertologyError.usage("\(task) is a regression task: it has no labels to map")
        }
        let outputs = config.numLabels
        guard !config.isRegression else {
            throw BertologyError.usage("the checkpoint's classifier is a regression head (num_labels 1); \(task) needs \(labels.count) classes (\(labels.joined(separator: ", ")))")
        }
        guard outputs == labels.count else {
            throw BertologyError.usage("the checkpoint's classifier has \(outputs) outputs; \(task) has \(labels.count) labels (\(labels.joined(separator: ", ")))")
        }
        var names: [String]?
        var rule = Rule.names
        if let given {
            guard given.count == outputs else {
                throw BertologyError.usage("`labels` gives \(given.count) names; the classifier has \(outputs) outputs")
            }
            names = given
            rule = .given
        } else {
            names = try configNames(config)
        }
        guard let names else {
            return LabelMapping(taskLabels: Array(labels.indices), rule: .taskOrder,
                                modelLabels: labels.indices.map { "LABEL_\($0)" })
        }
        // Generic LABEL_k names (all of them, or none).
        let generic = names.map { genericIndex($0) }
        if generic.allSatisfy({ $0 != nil }) {
            let indices = generic.map { $0! }
            guard Set(indices).count == indices.count, indices.allSatisfy({ $0 < labels.count }) else {
                throw BertologyError.usage("the classifier's generic label names \(names.joined(separator: ", ")) do not name \(labels.count) different \(task) labels")
            }
            return LabelMapping(taskLabels: indices, rule: rule == .given ? .given : .taskOrder, modelLabels: names)
        }
        let accepted = zip(labels, task.labelSynonyms).map { label, synonyms in
            Set(([label] + synonyms).map(normalize))
        }
        var taskLabels: [Int] = []
        for (output, name) in names.enumerated() {
            guard let index = accepted.firstIndex(where: { $0.contains(normalize(name)) }) else {
                let list = zip(labels, task.labelSynonyms).map { ([$0] + $1).joined(separator: "/") }.joined(separator: ", ")
                let source = rule == .given ? "`labels`" : "id2label[\(output)]"
                throw BertologyError.usage("\(source) = \"\(name)\" is not a \(task) label (accepted: \(list)); pass `labels` to say which task label each classifier output is")
            }
            guard !taskLabels.contains(index) else {
                throw BertologyError.usage("two classifier outputs are named \(task) label \"\(labels[index])\" (\(names.joined(separator: ", ")))")
            }
            taskLabels.append(index)
        }
        return LabelMapping(taskLabels: taskLabels, rule: rule, modelLabels: names)
    }

    /// The names config.json gives by output, or nil when it gives none.
    static func configNames(_ config: BertConfig) throws -> [String]? {
        let outputs = config.numLabels
        let fromLabel2id = config.label2id.isEmpty ? nil : Dictionary(config.label2id.map { ($0.value, $0.key) },
                                                                    uniquingKeysWith: { a, _ in a })
        if !config.id2label.isEmpty {
            guard (0..<outputs).allSatisfy({ config.id2label[$0] != nil }) else {
                throw BertologyError.usage("config.json id2label does not name every one of the \(outputs) classifier outputs")
            }
            let names = (0..<outputs).map { config.id2label[$0]! }
            if !config.label2id.isEmpty {
                for (index, name) in names.enumerated() where config.label2id[name] != index {
                    throw BertologyError.usage("config.json id2label[\(index)] = \"\(name)\" but label2id[\"\(name)\"] = \(config.label2id[name].map(String.init) ?? "nothing"): the two disagree")
                }
            }
            return names
        }
        if let fromLabel2id {
            guard (0..<outputs).allSatisfy({ fromLabel2id[$0] != nil }) else {
                throw BertologyError.usage("config.json label2id does not name every one of the \(outputs) classifier outputs")
            }
            return (0..<outputs).map { fromLabel2id[$0]! }
        }
        return nil
    }

    /// k for `LABEL_k` (any case), else nil.
    static func genericIndex(_ name: String) -> Int? {
        let upper = name.uppercased()
        guard upper.hasPrefix("LABEL_"), let index = Int(upper.dropFirst(6)), index >= 0 else { return nil }
        return index
    }

    static func normalize(_ name: String) -> String {
        String(name.lowercased().map { $0 == " " || $0 == "-" ? "_" : $0 })
    }

    /// "id2label names", "generic LABEL_k names: task order", or the names the caller gave.
    public var description: String {
        switch rule {
        case .names: "by name (" + zip(modelLabels.indices, modelLabels).map { "\($0)=\($1)" }.joined(separator: ", ") + ")"
        case .taskOrder: "generic names: output k is task label k"
        case .given: "given (" + modelLabels.joined(separator: ", ") + ")"
        }
    }
}
