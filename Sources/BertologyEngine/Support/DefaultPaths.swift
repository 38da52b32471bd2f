import Foundation

/// Where Bertology looks for things the user did not name.
public enum DefaultPaths {
    /// The folder name tools/setup fills with all-MiniLM-L6-v2.
    public static let defaultModelFolder = "models/all-MiniLM-L6-v2"

    /// The default model: `$BERTOLOGY_MODEL`, else `models/all-MiniLM-L6-v2` in the current folder,
    /// else in the checkout the executable was built in (found by walking up from the executable,
    /// so `.build/release/bertology` works from any folder).
    public static func model(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL {
        if let path = environment["BERTOLOGY_MODEL"], !path.isEmpty { return URL(fileURLWithPath: path) }
        let local = URL(fileURLWithPath: defaultModelFolder)
        if FileManager.default.fileExists(atPath: local.path) { return local }
        var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            let candidate = folder.appendingPathComponent(defaultModelFolder)
            if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
            folder.deleteLastPathComponent()
        }
        return local
    }

    /// The GLUE data folder: `$BERTOLOGY_GLUE_DIR` or `$GLUE_DIR` when set, else nil.
    public static func glue(environment: [String: String] = ProcessInfo.processInfo.environment) -> URL? {
        for key in ["BERTOLOGY_GLUE_DIR", "GLUE_DIR"] {
            if let path = environment[key], !path.isEmpty { return URL(fileURLWithPath: path) }
        }
        return nil
    }
}
