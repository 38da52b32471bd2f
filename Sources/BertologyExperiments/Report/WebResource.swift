import Foundation

/// The report's web files, real files in `Resources/web` compiled into the module at build time (the
/// EmbedWebResources plugin writes them, base64, into `encoded`): the style sheets, the attention viewer's
/// script and the two page templates. Written pages inline them, so a page stays one self-contained file.
enum WebResource: String, CaseIterable, Sendable {
    /// The style of every report page.
    case reportCSS = "report.css"
    /// The attention viewer's style (inside its section, so a viewer can go into any page).
    case viewerCSS = "viewer.css"
    /// The attention viewer: `bertologyAttentionViewer(section, data, config)`.
    case viewerJS = "viewer.js"
    /// A whole page: `{{title}}` (escaped), `{{body}}` (HTML), the report's style.
    case page = "page.html"
    /// One viewer's section: `{{id}}` (escaped), `{{data}}` and `{{config}}` (script-safe JSON).
    case viewerSection = "viewer-section.html"

    /// Each web file's text, by file name (from the plugin's base64).
    static let embedded: [String: String] = encoded.compactMapValues { base64 in
        Data(base64Encoded: base64).map { String(decoding: $0, as: UTF8.self) }
    }

    /// The file's text without its final newline (a template puts a newline after it where it wants one).
    var text: String {
        guard let text = Self.embedded[rawValue] else { preconditionFailure("no web file \(rawValue) in the build") }
        return text.hasSuffix("\n") ? String(text.dropLast()) : text
    }

    /// The template with each `{{name}}` replaced by `values[name]`, or by the text of the web file `name`
    /// (`{{report.css}}`) when `values` has none. One pass: inserted text is never searched for placeholders.
    func filled(_ values: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            let name = String(rest[open.upperBound..<close.lowerBound])
            out += rest[..<open.lowerBound]
            if let value = values[name] {
                out += value
            } else if let file = WebResource(rawValue: name) {
                out += file.text
            } else {
                preconditionFailure("\(rawValue): no value for {{\(name)}}")
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}
