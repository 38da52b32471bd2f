import BertologyEngine
import Foundation

/// The `checkpoint/` folder of a fine-tuning run: what a resume continues from.
///
/// - `state.json`: the recipe, the step count, the finished epochs (mean loss, dev metrics) and the
///   shuffle's position (`epoch`, `batch`: the order of an epoch is recomputed from the seed, see
///   ``EpochShuffle``, so no generator state beyond the seed and the step is needed);
/// - `optimizer.safetensors`: every parameter and both AdamW moments, F32, under the trainer's names;
/// - `train.csv`: the steps so far (train.csv's rows).
///
/// Written whole or not at all: the files go to `checkpoint.partial/`, then `checkpoint/` is renamed
/// to `checkpoint.previous/`, `checkpoint.partial/` to `checkpoint/`, and the previous one removed. A
/// run killed between the renames leaves `checkpoint.previous/`, which `load` then uses. No wall
/// time is recorded, so an interrupted and resumed run leaves the same bytes as an uninterrupted one.
struct FineTuningCheckpointStore {
    static let name = "checkpoint"
    static let stateName = "state.json"
    static let optimizerName = "optimizer.safetensors"
    static let stepsName = "train.csv"

    /// `<out>/checkpoint`.
    let folder: URL
    var partial: URL { folder.deletingLastPathComponent().appendingPathComponent(Self.name + ".partial") }
    var previous: URL { folder.deletingLastPathComponent().appendingPathComponent(Self.name + ".previous") }

    /// What state.json holds, with the steps of train.csv.
    struct Saved {
        let recipe: FineTuningRecipe
        let step: Int
        let epochs: [FineTuningEpoch]
        var steps: [FineTuningStep] = []
        /// Set by `load`: the folder the state was read from, and the trainer's own step count.
        var folder: URL?
        var trainerStep: Int?
    }

    /// state.json's fields.
    private struct State: Codable {
        var format = "bertology-finetune-checkpoint/1"
        let recipe: FineTuningRecipe
        let step: Int
        /// The epoch in progress (0-based) and the batches of it done: `step = epoch x steps_per_epoch + batch`.
        let epoch: Int
        let batch: Int
        /// The seed of the epoch's shuffle generator (``EpochShuffle/generatorSeed(seed:epoch:)``).
        let shuffleSeed: UInt64
        let epochs: [FineTuningEpoch]
        let trainerStep: Int

        enum CodingKeys: String, CodingKey {
            case format, recipe, step, epoch, batch, epochs
            case shuffleSeed = "shuffle_seed", trainerStep = "trainer_step"
        }
    }

    /// train.csv's text for `steps`.
    static func csv(_ steps: [FineTuningStep]) -> String {
        ([FineTuningStep.csvHeader] + steps.map(\.csvRow)).joined(separator: "\n") + "\n"
    }

    /// Writes the checkpoint of `saved` with `trainer`'s state, atomically as a folder.
    func save(_ saved: Saved, trainer: SequenceClassifierTrainer) throws {
        let manager = FileManager.default
        try? manager.removeItem(at: partial)
        do { try manager.createDirectory(at: partial, withIntermediateDirectories: true) } catch {
            throw BertologyError.io(partial.path, "cannot create the folder: \(error.localizedDescription)")
        }
        let perEpoch = saved.recipe.stepsPerEpoch
        let epoch = min(saved.step / max(1, perEpoch), max(0, saved.recipe.epochs - 1))
        let state = State(recipe: saved.recipe, step: saved.step, epoch: epoch, batch: saved.step - epoch * perEpoch,
                          shuffleSeed: EpochShuffle.generatorSeed(seed: saved.recipe.seed, epoch: epoch),
                          epochs: saved.epochs, trainerStep: trainer.step)
        let trainerState = trainer.state()
        try SafeTensorsWriter.write(trainerState.tensors, to: partial.appendingPathComponent(Self.optimizerName))
        try AtomicFile.write(Self.csv(saved.steps), to: partial.appendingPathComponent(Self.stepsName))
        // state.json last: a partial folder without it is never taken for a checkpoint.
        try AtomicFile.write(try JSONOutput.encode(state, pretty: true) + Data("\n".utf8),
                             to: partial.appendingPathComponent(Self.stateName))
        if manager.fileExists(atPath: folder.path) {
            try? manager.removeItem(at: previous)
            try rename(folder, previous)
        }
        // When `folder` was missing, `previous` is the last good checkpoint: it goes only after this rename.
        try rename(partial, folder)
        try? manager.removeItem(at: previous)
    }

    private func rename(_ from: URL, _ to: URL) throws {
        guard Foundation.rename(from.path, to.path) == 0 else {
            throw BertologyError.io(to.path, "cannot rename \(from.lastPathComponent) to \(to.lastPathComponent): \(String(cString: strerror(errno)))")
        }
    }

    /// The saved checkpoint (from `checkpoint/`, else `checkpoint.previous/`), or nil when there is none.
    /// - Throws: `BertologyError` `.badInput` when state.json or train.csv is malformed.
    func load() throws -> Saved? {
        for candidate in [folder, previous] {
            let stateURL = candidate.appendingPathComponent(Self.stateName)
            guard FileManager.default.fileExists(atPath: stateURL.path) else { continue }
            let data = try InputFile.read(stateURL)
            let state: State
            do { state = try JSONDecoder().decode(State.self, from: data) } catch {
                throw BertologyError.badInput(stateURL.path, "not a fine-tuning checkpoint state (\(error))")
            }
            let csvURL = candidate.appendingPathComponent(Self.stepsName)
            let lines = String(decoding: try InputFile.read(csvURL), as: UTF8.self).split(separator: "\n")
            guard lines.first == Substring(FineTuningStep.csvHeader) else {
                throw BertologyError.badInput(csvURL.path, at: "line 1", "expected the header \(FineTuningStep.csvHeader)")
            }
            var steps: [FineTuningStep] = []
            for (index, line) in lines.dropFirst().enumerated() {
                guard let step = FineTuningStep(csvRow: line), step.step == index + 1 else {
                    throw BertologyError.badInput(csvURL.path, at: "line \(index + 2)", "not step \(index + 1)'s row")
                }
                steps.append(step)
            }
            guard steps.count == state.step else {
                throw BertologyError.badInput(csvURL.path, "\(steps.count) steps, but state.json says \(state.step)")
            }
            return Saved(recipe: state.recipe, step: state.step, epochs: state.epochs, steps: steps, folder: candidate,
                         trainerStep: state.trainerStep)
        }
        return nil
    }

    /// Puts the saved parameters and AdamW moments into `trainer`.
    /// - Throws: `BertologyError` `.badInput` when a tensor is missing or has another shape.
    func restore(_ saved: Saved, into trainer: SequenceClassifierTrainer) throws {
        let url = (saved.folder ?? folder).appendingPathComponent(Self.optimizerName)
        let tensors = try SafeTensorsReader.read(url)
        var state = trainer.state()
        state.tensors = try state.tensors.map { name, tensor in
            guard let loaded = tensors[name] else {
                throw BertologyError.badInput(url.path, at: "tensor \(name)", "missing (the trainer has it)")
            }
            guard loaded.shape == tensor.shape else {
                throw BertologyError.badInput(url.path, at: "tensor \(name)", "shape \(loaded.shape), the trainer's is \(tensor.shape)")
            }
            return (name: name, tensor: loaded)
        }
        guard tensors.count == state.tensors.count else {
            let extra = Set(tensors.keys).subtracting(state.tensors.map(\.name)).sorted().first ?? "?"
            throw BertologyError.badInput(url.path, at: "tensor \(extra)", "not a tensor of this trainer")
        }
        state.step = saved.trainerStep ?? saved.step
        try trainer.restore(state)
    }

    /// Removes the checkpoint (a run started again with `force`).
    func removeAll() {
        for url in [folder, partial, previous] { try? FileManager.default.removeItem(at: url) }
    }

    /// Removes a partial checkpoint a killed run left (never a complete one).
    func removeLeftovers() {
        try? FileManager.default.removeItem(at: partial)
    }
}
