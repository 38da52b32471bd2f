import Foundation
import Testing
@testable import BertologyEngine

/// `--model` as users have it: a folder, a Hugging Face cache id resolved offline in a fake hub cache
/// built in a temporary directory (snapshots linking into blobs/, as huggingface_hub writes them),
/// or nothing (the default model), and what the error says when there is no such model.
@Suite struct ModelLocatorTests {
    static let commit = "0123456789abcdef0123456789abcdef01234567"
    static let fixture = TestPaths.fixture("bin/classifier")

    /// A scratch folder with `hub/models--owner--tiny`: blobs, snapshots/<commit>/ of links into them, refs/main.
    static func makeCache(refsMain: Bool = true, snapshots: [String] = [commit]) throws -> URL {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-hub-\(UUID().uuidString)")
        let repository = root.appendingPathComponent("hub/models--owner--tiny")
        let blobs = repository.appendingPathComponent("blobs")
        try FileManager.default.createDirectory(at: blobs, withIntermediateDirectories: true)
        let files = ["config.json": "config.json", "vocab.txt": "vocab.txt", "model.safetensors": "f32.safetensors"]
        for (name, source) in files {
            try FileManager.default.copyItem(at: fixture.appendingPathComponent(source), to: blobs.appendingPathComponent("blob-\(name)"))
        }
        for snapshot in snapshots {
            let folder = repository.appendingPathComponent("snapshots/\(snapshot)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            for name in files.keys {
                try FileManager.default.createSymbolicLink(atPath: folder.appendingPathComponent(name).path,
                                                           withDestinationPath: "../../blobs/blob-\(name)")
            }
        }
        if refsMain {
            try FileManager.default.createDirectory(at: repository.appendingPathComponent("refs"), withIntermediateDirectories: true)
            try commit.write(to: repository.appendingPathComponent("refs/main"), atomically: true, encoding: .utf8)
        }
        return root
    }

    @Test func aCacheIdResolvesToTheSnapshotRefsMainNames() throws {
        let root = try Self.makeCache(snapshots: [Self.commit, "fedcba9876543210fedcba9876543210fedcba98"])
        defer { try? FileManager.default.removeItem(at: root) }
        let hub = root.appendingPathComponent("hub")
        let folder = try ModelLocator.locate("owner/tiny", environment: ["HF_HUB_CACHE": hub.path], directory: root)
        #expect(folder.path == hub.appendingPathComponent("models--owner--tiny/snapshots/\(Self.commit)").path)
        // The links into blobs/ are followed: the same model as the fixture folder.
        let viaCache = try Checkpoint.load(folder), direct = try SafeTensorsFile(url: Self.fixture.appendingPathComponent("f32.safetensors"))
        #expect(viaCache.model.config.hiddenSize == 15 && direct.entries.count > 20)
        let other = try ModelLocator.locate("owner/tiny@fedcba9876543210fedcba9876543210fedcba98",
                                            environment: ["HF_HUB_CACHE": hub.path], directory: root)
        #expect(other.lastPathComponent == "fedcba9876543210fedcba9876543210fedcba98")
        #expect(try ModelLocator.locate("owner/tiny@main", environment: ["HF_HUB_CACHE": hub.path], directory: root) == folder)
    }

    @Test func theCacheIsChosenAsHuggingFaceHubChoosesIt() throws {
        let root = try Self.makeCache()
        defer { try? FileManager.default.removeItem(at: root) }
        let expected = "models--owner--tiny/snapshots/\(Self.commit)"
        // $HF_HOME/hub
        #expect(try ModelLocator.locate("owner/tiny", environment: ["HF_HOME": root.path], directory: root).path
                == root.appendingPathComponent("hub/\(expected)").path)
        // ~/.cache/huggingface/hub
        let home = root.appendingPathComponent("home")
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".cache/huggingface"), withIntermediateDirectories: true)
        try FileManager.default.moveItem(at: root.appendingPathComponent("hub"), to: home.appendingPathComponent(".cache/huggingface/hub"))
        #expect(try ModelLocator.locate("owner/tiny", environment: ["HOME": home.path], directory: root).path
                == home.appendingPathComponent(".cache/huggingface/hub/\(expected)").path)
        // $HF_HUB_CACHE wins over $HF_HOME.
        #expect(throws: BertologyError.self) {
            try ModelLocator.locate("owner/tiny", environment: ["HOME": home.path, "HF_HUB_CACHE": root.appendingPathComponent("nowhere").path],
                                    directory: root)
        }
    }

    @Test func anExistingFolderWinsOverTheCache() throws {
        let root = try Self.makeCache()
        defer { try? FileManager.default.removeItem(at: root) }
        try FileManager.default.createDirectory(at: root.appendingPathComponent("owner/tiny"), withIntermediateDirectories: true)
        let found = try ModelLocator.locate("owner/tiny", environment: ["HF_HUB_CACHE": root.appendingPathComponent("hub").path], directory: root)
        #expect(found.path == root.appendingPathComponent("owner/tiny").path)
    }

    @Test func withoutRefsMainTheOnlySnapshotIsTakenAndSeveralAreAnError() throws {
        let one = try Self.makeCache(refsMain: false)
        defer { try? FileManager.default.removeItem(at: one) }
        let hub = one.appendingPathComponent("hub")
        #expect(try ModelLocator.locate("owner/tiny", environment: ["HF_HUB_CACHE": hub.path], directory: one).lastPathComponent == Self.commit)

        let several = try Self.makeCache(refsMain: false, snapshots: ["aaaa", "bbbb"])
        defer { try? FileManager.default.removeItem(at: several) }
        let repository = several.appendingPathComponent("hub/models--owner--tiny")
        #expect(throws: BertologyError.io(repository.path, "2 snapshots and no refs/main: name one as owner/tiny@<revision> (aaaa, bbbb)")) {
            try ModelLocator.locate("owner/tiny", environment: ["HF_HUB_CACHE": several.appendingPathComponent("hub").path], directory: several)
        }
        #expect(throws: BertologyError.io(repository.path, "revision cccc has no snapshot (snapshots: aaaa, bbbb)")) {
            try ModelLocator.locate("owner/tiny@cccc", environment: ["HF_HUB_CACHE": several.appendingPathComponent("hub").path], directory: several)
        }
    }

    @Test func anAbsentIdSaysWhereItLookedAndHowToGetIt() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-hub-\(UUID().uuidString)")
        #expect(throws: BertologyError.io("FacebookAI/roberta-base",
            "no such checkpoint folder (\(root.path)/FacebookAI/roberta-base), and not in the Hugging Face cache "
            + "(no \(root.path)/hub/models--FacebookAI--roberta-base); huggingface-cli download FacebookAI/roberta-base "
            + "fetches it (Bertology never downloads), or name a checkpoint folder")) {
            try ModelLocator.locate("FacebookAI/roberta-base", environment: ["HF_HUB_CACHE": root.appendingPathComponent("hub").path],
                                    directory: root)
        }
        // A path that cannot be an id is a missing folder, as before.
        #expect(throws: BertologyError.io("./no/such/folder", "no such checkpoint folder")) {
            try ModelLocator.locate("./no/such/folder", environment: [:], directory: root)
        }
        #expect(ModelLocator.HubID("a/b/c") == nil && ModelLocator.HubID("../x") == nil && ModelLocator.HubID("owner/name@v1.0")?.revision == "v1.0")
    }

    @Test func withoutAModelTheErrorSaysWhereTheDefaultModelWasLookedFor() throws {
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("bertology-nomodel-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: empty) }
        do {
            // The checkout above the test executable may hold the default model: then that is the answer.
            let found = try ModelLocator.locate(nil, environment: [:], directory: empty)
            #expect(found.path.hasSuffix("/models/all-MiniLM-L6-v2") && FileManager.default.fileExists(atPath: found.path))
        } catch let error as BertologyError {
            #expect(error.file == "models/all-MiniLM-L6-v2")
            #expect(error.reason.hasPrefix("no model named and the default model is not there: looked in the current folder (\(empty.path)/models/all-MiniLM-L6-v2)"))
            #expect(error.reason.contains("BERTOLOGY_MODEL is not set; tools/setup --model fetches the default model"))
        }
        // $BERTOLOGY_MODEL may be a cache id too.
        let root = try Self.makeCache()
        defer { try? FileManager.default.removeItem(at: root) }
        #expect(try ModelLocator.locate(nil, environment: ["BERTOLOGY_MODEL": "owner/tiny", "HF_HUB_CACHE": root.appendingPathComponent("hub").path],
                                        directory: empty).lastPathComponent == Self.commit)
    }
}
