import Foundation

/// Where tests find their inputs. Fixtures are committed under Tests/BertologyTests/Fixtures;
/// GLUE data and the default model are never copied into the repository.
enum TestPaths {
    /// The repository root (this file is Tests/BertologyTests/Support/TestPaths.swift).
    static let repositoryRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().deletingLastPathComponent()

    static let fixtures: URL = repositoryRoot.appendingPathComponent("Tests/BertologyTests/Fixtures")

    static func fixture(_ relativePath: String) -> URL {
        fixtures.appendingPathComponent(relativePath)
    }

    /// The GLUE folder: $BERTOLOGY_GLUE_DIR, else ../shared/data/glue beside the repository.
    static let glue: URL = {
        if let path = ProcessInfo.processInfo.environment["BERTOLOGY_GLUE_DIR"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.deletingLastPathComponent().appendingPathComponent("shared/data/glue")
    }()

    /// The default model that tools/setup fetches: $BERTOLOGY_MODEL, else models/all-MiniLM-L6-v2.
    static let defaultModel: URL = {
        if let path = ProcessInfo.processInfo.environment["BERTOLOGY_MODEL"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        return repositoryRoot.appendingPathComponent("models/all-MiniLM-L6-v2")
    }()
}
