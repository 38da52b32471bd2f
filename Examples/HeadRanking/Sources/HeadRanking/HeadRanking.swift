// Ranks the heads of one layer by how much switching each off changes a pair's cosine score.
//
//   head-ranking [--model DIR] [--layer N] [--mode uniform|zero] [TEXT_A TEXT_B]
//
// The model is loaded once (immutable, Sendable) and shared by one task per head; each task runs its
// own forward passes (its own InferenceSession inside `cosineSimilarity`), so they run concurrently.
import Bertology
import Foundation

@main
struct HeadRanking {
    static func main() async {
        var arguments = Array(CommandLine.arguments.dropFirst())
        func option(_ name: String) -> String? {
            guard let index = arguments.firstIndex(of: name), index + 1 < arguments.count else { return nil }
            defer { arguments.removeSubrange(index...(index + 1)) }
            return arguments[index + 1]
        }
        let modelFolder = option("--model").map { URL(fileURLWithPath: $0) } ?? DefaultPaths.model()
        let layerNumber = Int(option("--layer") ?? "4") ?? 4
        let mode = HeadIntervention(rawValue: option("--mode") ?? "uniform") ?? .uniform
        let (textA, textB) = arguments.count >= 2
            ? (arguments[0], arguments[1]) : ("A man is playing a guitar.", "Someone is playing music on a guitar.")
        do {
            try await rank(modelFolder: modelFolder, layerNumber: layerNumber, mode: mode, textA: textA, textB: textB)
        } catch {
            FileHandle.standardError.write(Data("head-ranking: \(error)\n".utf8))
            exit((error as? BertologyError)?.exitStatus ?? 1)
        }
    }

    static func rank(modelFolder: URL, layerNumber: Int, mode: HeadIntervention, textA: String, textB: String) async throws {
        let checkpoint = try Checkpoint.load(modelFolder)
        let model = checkpoint.model
        guard (1...model.layerCount).contains(layerNumber) else {
            throw BertologyError.usage("--layer \(layerNumber): the model has layers 1-\(model.layerCount)")
        }
        let baseline = try checkpoint.cosineSimilarity(textA, textB)

        let changes = try await withThrowingTaskGroup(of: (HeadID, Double).self) { group in
            for head in 0..<model.headCount {
                let id = HeadID(layer: layerNumber - 1, head: head)
                group.addTask {
                    let interventions = HeadInterventions(HeadSelection(heads: [id]), mode: mode,
                                                          layerCount: model.layerCount, headCount: model.headCount)
                    return (id, try checkpoint.cosineSimilarity(textA, textB, interventions: interventions) - baseline)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }

        print("\(checkpoint.name): cosine(\"\(textA)\", \"\(textB)\") = \(format(baseline))")
        print("Heads of layer \(layerNumber) switched off one at a time (\(mode.rawValue)), largest change first:")
        for (head, change) in changes.sorted(by: { abs($0.1) > abs($1.1) }) {
            print("  \(head)  \(change >= 0 ? "+" : "")\(format(change))")
        }
    }

    static func format(_ value: Double) -> String {
        String((value * 10_000).rounded() / 10_000)
    }
}
