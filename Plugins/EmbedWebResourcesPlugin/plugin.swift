import Foundation
import PackagePlugin

/// Compiles a target's web files (`Resources/web/*.css|js|html`: the report's style sheets, the attention
/// viewer's script, the page templates) into the target as one Swift file of string constants
/// (`WebResource.embedded`), so every binary that links the target has them, wherever it is moved and without
/// a resource bundle beside it. docs/DESIGN.md, "The report's web files".
@main
struct EmbedWebResourcesPlugin: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        guard let target = target as? SourceModuleTarget else { return [] }
        let folder = target.directoryURL.appending(path: "Resources").appending(path: "web")
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
            .filter { ["css", "js", "html"].contains($0.pathExtension) }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
        let output = context.pluginWorkDirectoryURL.appending(path: "WebResources.swift")
        return [.buildCommand(displayName: "Embedding \(files.count) web files into \(target.name)",
                              executable: try context.tool(named: "EmbedWebResources").url,
                              arguments: [output.path] + files.map(\.path),
                              inputFiles: files, outputFiles: [output])]
    }
}
