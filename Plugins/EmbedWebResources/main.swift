import Foundation

// EmbedWebResources OUTPUT FILE...: writes OUTPUT, a Swift file holding each FILE's text as a string literal
// under its file name (`WebResource.embedded`). Run by the EmbedWebResources plugin at build time; writes only
// when the text changed, so an unchanged file does not recompile the module.

func literal(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\\": out += "\\\\"
        case "\"": out += "\\\""
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default:
            if scalar.value < 0x20 || scalar.value == 0x7F {
                out += "\\u{" + String(scalar.value, radix: 16) + "}"
            } else {
                out.unicodeScalars.append(scalar)
            }
        }
    }
    return out + "\""
}

let arguments = Array(CommandLine.arguments.dropFirst())
guard let outputPath = arguments.first else {
    FileHandle.standardError.write(Data("EmbedWebResources: usage: EmbedWebResources OUTPUT FILE...\n".utf8))
    exit(2)
}
var source = "// Generated at build time by the EmbedWebResources plugin from Resources/web: edit those files.\n\n"
source += "extension WebResource {\n    /// Each web file's text, by file name.\n    static let embedded: [String: String] = [\n"
for path in arguments.dropFirst() {
    let url = URL(fileURLWithPath: path)
    guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
        FileHandle.standardError.write(Data("EmbedWebResources: \(path): cannot read it as UTF-8 text\n".utf8))
        exit(1)
    }
    source += "        \(literal(url.lastPathComponent)): \(literal(text)),\n"
}
if arguments.count == 1 { source += "        :\n" }
source += "    ]\n}\n"
let output = URL(fileURLWithPath: outputPath)
if (try? String(contentsOf: output, encoding: .utf8)) != source {
    do {
        try Data(source.utf8).write(to: output, options: .atomic)
    } catch {
        FileHandle.standardError.write(Data("EmbedWebResources: \(outputPath): \(error.localizedDescription)\n".utf8))
        exit(1)
    }
}
