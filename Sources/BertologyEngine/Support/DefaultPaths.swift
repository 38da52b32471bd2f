import Foundation

/// Where Bertology looks for things the user did not name.
public enum DefaultPaths {
    /// The folder name tools/setup fills with all-MiniLM-L6-v2.
    public static let defaultModelFolder = "models/all-MiniLM-L6-v2"

    /// The default model: `$BERTOLOGY_MODEL`, else `models/all-MiniLM-L6-v2` in the current folder,
    /// else in the checkout the executable was built in (found by walking up from the executable,
    /// so `.build/release/bertology` works from any folder). `ModelLocator.locate` does the same and
    /// says where it looked when the model is not there.
    public static func model(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let path = environment["BERTOLOGY_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let candidates = defaultModelCandidates()
        return candidates.first { FileManager.default.fileExists(atPath: $0.path) } ?? candidates[0]
    }

    /// Where the default model may be, in the order looked at: `models/all-MiniLM-L6-v2` in
    /// `directory` (relative to the current folder when it is the current folder), then in each of
    /// the six folders above the executable.
    static func defaultModelCandidates(directory: URL? = nil) -> [URL] {
        var candidates = [directory.map { $0.appendingPathComponent(defaultModelFolder) } ?? URL(fileURLWithPath: defaultModelFolder)]
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            candidates.append(folder.appendingPathComponent(defaultModelFolder))
            folder.deleteLastPathComponent()
        }
        return candidates
    }

    /// The GLUE data folder: `$BERTOLOGY_GLUE_DIR` or `$GLUE_DIR` when set, else nil.
    public static func glue(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        for key in ["BERTOLOGY_GLUE_DIR", "GLUE_DIR"] {
            if let path = environment[key], !path.isEmpty { return URL(fileURLWithPath: path) }
        }
        return nil
    }
}
