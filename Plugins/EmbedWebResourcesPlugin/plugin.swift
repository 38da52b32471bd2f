import Foundation
import PackagePlugin

/// Compiles a target's web files (`Resources/web/*.css|js|html`: the report's style sheets, the attention
/// viewer's script, the page templates) into the target as one Swift file of string constants
/// (`WebResource.encoded`, base64), so every binary that links the target has them, wherever it is moved and
/// without a resource bundle beside it. docs/DESIGN.md, "The report's web files".
///
/// The command is a POSIX shell script (`/bin/sh`, `base64`), not an executable of this package: a build
/// tool executable is compiled with the build's own compiler flags, and under `-sanitize=fuzzer` (the fuzz
/// targets' build) it would not link.
@main
struct EmbedWebResourcesPlugin: BuildToolPlugin {
    static let script = #"""
    out=$1; shift
    {
      printf '// Generated at build time by the EmbedWebResources plugin from Resources/web: edit those files.\n\n'
      printf 'extension WebResource {\n    /// Each web file, base64, by file name.\n    static let encoded: [String: String] = [\n'
      [ $# -eq 0 ] && printf '        :\n'
      for file in "$@"; do
        printf '        "%s": "%s",\n' "${file##*/}" "$(base64 < "$file" | tr -d '\n')"
      done
      printf '    ]\n}\n'
    } > "$out.partial" && mv "$out.partial" "$out"
    """#

    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let folder = target.directoryURL.appending(path: "Resources").appending(path: "web")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { ["css", "js", "html"].contains($0.pathExtension) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "WebResources.swift")
        return [.buildCommand(displayName: "Embedding \(files.count) web files into \(target.name)",
                              executable: URL(fileURLWithPath: "/bin/sh"),
                              arguments: ["-c", Self.script, "embed-web-resources", output.path] + files.map(\.path),
                              inputFiles: files, outputFiles: [output])]
    }
}
