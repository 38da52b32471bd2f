import Foundation

/// Finds the checkpoint folder a user means: a folder, or a model in the Hugging Face cache, or the
/// default model. Offline: it only looks at the disk, never at the network.
///
/// - A name that is an existing path is that folder.
/// - Else a name shaped like a Hugging Face id (`owner/name`, `name`, optionally `@revision`) is
///   looked up in the hub cache as huggingface_hub lays it out: `models--{owner}--{name}/snapshots/{commit}`,
///   the commit named by `refs/main` (or `refs/<revision>`), else the only snapshot. The cache is
///   `$HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
///   `~/.cache/huggingface/hub`. Snapshot files are links into `blobs/`; reading follows them.
/// - No name: `$BERTOLOGY_MODEL` (a folder or an id), else the default model (`DefaultPaths`).
/// Not found: an error saying every place looked in and how to get a model.
public enum ModelLocator {
    /// The checkpoint folder `name` means (nil: the default model).
    /// - Parameter directory: the folder relative paths start from (the current one).
    /// - Throws: `BertologyError` `.io` naming where it looked when there is no such model.
    public static func locate(_ name: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
                              directory: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) throws -> URL {
        if let name, !name.isEmpty { return try locate(name: name, environment: environment, directory: directory) }
        if let name = environment["BERTOLOGY_MODEL"], !name.isEmpty {
            return try locate(name: name, environment: environment, directory: directory)
        }
        let candidates = DefaultPaths.defaultModelCandidates(directory: directory)
        if let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0.path) }) { return found }
        let executable = candidates.count > 1
            ? " and in the executable's folder (\(candidates[1].deletingLastPathComponent().deletingLastPathComponent().path)) and the \(candidates.count - 2) above it"
            : ""
        throw BertologyError.io(DefaultPaths.defaultModelFolder,
            "no model named and the default model is not there: looked in the current folder (\(candidates[0].path))\(executable), "
            + "and BERTOLOGY_MODEL is not set; tools/setup --model fetches the default model into the checkout, "
            + "or name a checkpoint folder or a Hugging Face model id")
    }

    /// A Hugging Face model id: `owner/name` or `name`, and a revision after `@`.
    struct HubID: Equatable {
        let repository: String
        let revision: String?

        init?(_ text: String) {
            let parts = text.split(separator: "@", maxSplits: 1, omittingEmptySubsequences: false)
            let repository = String(parts[0])
            let names = repository.split(separator: "/", omittingEmptySubsequences: false)
            guard (1...2).contains(names.count), names.allSatisfy(Self.isName) else { return nil }
            var revision: String?
            if parts.count == 2 {
                let segments = parts[1].split(separator: "/", omittingEmptySubsequences: false)
                guard !segments.isEmpty, segments.allSatisfy(Self.isName) else { return nil }
                revision = String(parts[1])
            }
            self.repository = repository
            self.revision = revision
        }

        /// A name as the Hub allows it: letters, digits, `-`, `_`, `.`, not starting with `.` or `-`, no `..`.
        private static func isName(_ name: Substring) -> Bool {
            guard let first = name.first, first.isASCII, first.isLetter || first.isNumber, name.count <= 96,
                  !name.contains("..") else { return false }
            return name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" || $0 == ".") }
        }

        /// The repository's folder in the hub cache.
        var cacheFolderName: String { "models--" + repository.replacingOccurrences(of: "/", with: "--") }
    }

    /// The hub cache folder, as huggingface_hub chooses it.
    static func hubCache(environment: [String: String]) -> URL {
        if let path = environment["HF_HUB_CACHE"], !path.isEmpty { return URL(fileURLWithPath: path) }
        if let path = environment["HF_HOME"], !path.isEmpty { return URL(fileURLWithPath: path).appendingPathComponent("hub") }
        if let path = environment["XDG_CACHE_HOME"], !path.isEmpty {
            return URL(fileURLWithPath: path).appendingPathComponent("huggingface/hub")
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        return URL(fileURLWithPath: home).appendingPathComponent(".cache/huggingface/hub")
    }

    private static func locate(name: String, environment: [String: String], directory: URL) throws -> URL {
        let url = name.hasPrefix("/") ? URL(fileURLWithPath: name) : directory.appendingPathComponent(name)
        if FileManager.default.fileExists(atPath: url.path) { return url }
        guard let id = HubID(name) else { throw BertologyError.io(name, "no such checkpoint folder") }
        let repository = hubCache(environment: environment).appendingPathComponent(id.cacheFolderName)
        guard isFolder(repository) else {
            throw BertologyError.io(name,
                "no such checkpoint folder (\(url.standardizedFileURL.path)), and not in the Hugging Face cache "
                + "(no \(repository.path)); huggingface-cli download \(id.repository) fetches it "
                + "(Bertology never downloads), or name a checkpoint folder")
        }
        let snapshots = repository.appendingPathComponent("snapshots")
        let available = ((try? FileManager.default.contentsOfDirectory(atPath: snapshots.path)) ?? [])
            .filter { isFolder(snapshots.appendingPathComponent($0)) }.sorted()
        let reference = id.revision ?? "main"
        let refFile = repository.appendingPathComponent("refs").appendingPathComponent(reference)
        var commit: String?
        if let text = try? String(contentsOf: refFile, encoding: .utf8) {
            commit = text.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let revision = id.revision {
            commit = revision
        }
        if let commit {
            let snapshot = snapshots.appendingPathComponent(commit)
            guard !commit.isEmpty, !commit.contains("/"), isFolder(snapshot) else {
                let source = commit == id.revision ? "revision \(commit)" : "refs/\(reference) names \(commit), which"
                throw BertologyError.io(repository.path,
                    "\(source) has no snapshot (snapshots: \(available.isEmpty ? "none" : available.joined(separator: ", ")))")
            }
            return snapshot
        }
        switch available.count {
        case 1: return snapshots.appendingPathComponent(available[0])
        case 0: throw BertologyError.io(repository.path, "no snapshot in the cache (an interrupted download?); huggingface-cli download \(id.repository) fetches it")
        default:
            throw BertologyError.io(repository.path,
                "\(available.count) snapshots and no refs/main: name one as \(id.repository)@<revision> (\(available.joined(separator: ", ")))")
        }
    }

    private static func isFolder(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
