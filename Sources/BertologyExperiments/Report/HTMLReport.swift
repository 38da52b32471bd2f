import BertologyEngine
import Foundation

/// The one HTML report builder: a single self-contained page (inline CSS, SVG figures inlined, no
/// fonts or anything fetched from the network, and no scripts but those a section's own `html`
/// fragment brings inline), with the run's parameters and one section per analysis. Files of the
/// same folder are linked by relative name.
struct HTMLReport: Sendable {
    public struct Figure: Sendable {
        /// A standalone SVG document (as `Heatmap.svg()` writes it); inlined into the page.
        public var svg: String
        public var caption: String?
        /// Files with the figure's data, relative to the report (`special-tokens-cls.csv`).
        public var files: [String]

        public init(svg: String, caption: String? = nil, files: [String] = []) {
            self.svg = svg
            self.caption = caption
            self.files = files
        }
    }

    public struct Table: Sendable {
        public var caption: String?
        public var header: [String]
        public var rows: [[String]]

        public init(caption: String? = nil, header: [String], rows: [[String]]) {
            self.caption = caption
            self.header = header
            self.rows = rows
        }
    }

    public struct Section: Sendable {
        public var title: String
        /// Anchor name.
        public var id: String
        /// Plain-text paragraphs (escaped).
        public var paragraphs: [String]
        public var tables: [Table]
        public var figures: [Figure]
        /// Files of the whole section (its JSON).
        public var files: [String]
        /// HTML inserted as it is after the figures (a fragment with its own inline script and style,
        /// such as the attention viewer's); empty for most sections.
        public var html: [String] = []

        public init(title: String, id: String, paragraphs: [String] = [], tables: [Table] = [], figures: [Figure] = [],
                    files: [String] = []) {
            self.title = title
            self.id = id
            self.paragraphs = paragraphs
            self.tables = tables
            self.figures = figures
            self.files = files
        }
    }

    public var title: String
    public var subtitle: String?
    /// The parameters table: name, value.
    public var parameters: [(name: String, value: String)]
    public var sections: [Section]

    public init(title: String, subtitle: String? = nil, parameters: [(name: String, value: String)], sections: [Section]) {
        self.title = title
        self.subtitle = subtitle
        self.parameters = parameters
        self.sections = sections
    }

    static let style = """
    body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 24px 32px; color: #111; max-width: 1500px; }
    h1 { font-size: 24px; margin-bottom: 4px; } h2 { font-size: 19px; margin-top: 36px; border-bottom: 1px solid #ccc; padding-bottom: 4px; }
    p.subtitle { color: #555; margin-top: 0; } p { max-width: 1000px; line-height: 1.45; }
    table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
    th, td { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
    th { background: #f3f3f3; } td.value { font-family: "DejaVu Sans Mono", monospace; word-break: break-all; }
    caption { text-align: left; font-weight: bold; padding: 4px 0; white-space: nowrap; }
    nav ul { columns: 2; max-width: 700px; } nav li { margin: 2px 0; }
    .figures { display: flex; flex-wrap: wrap; gap: 18px 28px; align-items: flex-start; }
    figure { margin: 0; } figcaption { font-size: 12px; color: #444; max-width: 640px; margin-top: 4px; }
    .files { font-size: 12px; color: #555; } .files a { margin-right: 8px; }
    """

    public func html() -> String {
        var page: [String] = []
        page.append("<!DOCTYPE html>")
        page.append("<html lang=\"en\"><head><meta charset=\"utf-8\">")
        page.append("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">")
        page.append("<title>\(XMLText.escape(title))</title>")
        page.append("<style>\n\(Self.style)\n</style></head><body>")
        page.append("<h1>\(XMLText.escape(title))</h1>")
        if let subtitle { page.append("<p class=\"subtitle\">\(XMLText.escape(subtitle))</p>") }
        page.append("<table><caption>Parameters</caption>")
        for (name, value) in parameters {
            page.append("<tr><th>\(XMLText.escape(name))</th><td class=\"value\">\(XMLText.escape(value))</td></tr>")
        }
        page.append("</table>")
        if sections.count > 1 {
            page.append("<nav><ul>")
            for section in sections { page.append("<li><a href=\"#\(XMLText.escape(section.id))\">\(XMLText.escape(section.title))</a></li>") }
            page.append("</ul></nav>")
        }
        for section in sections {
            page.append("<section id=\"\(XMLText.escape(section.id))\"><h2>\(XMLText.escape(section.title))</h2>")
            for paragraph in section.paragraphs { page.append("<p>\(XMLText.escape(paragraph))</p>") }
            if !section.files.isEmpty { page.append(Self.links(section.files)) }
            for table in section.tables {
                page.append("<table>")
                if let caption = table.caption { page.append("<caption>\(XMLText.escape(caption))</caption>") }
                page.append("<tr>" + table.header.map { "<th>\(XMLText.escape($0))</th>" }.joined() + "</tr>")
                for row in table.rows { page.append("<tr>" + row.map { "<td>\(XMLText.escape($0))</td>" }.joined() + "</tr>") }
                page.append("</table>")
            }
            if !section.figures.isEmpty {
                page.append("<div class=\"figures\">")
                for figure in section.figures {
                    page.append("<figure>")
                    page.append(Self.inline(figure.svg))
                    if figure.caption != nil || !figure.files.isEmpty {
                        page.append("<figcaption>\(XMLText.escape(figure.caption ?? ""))\(figure.files.isEmpty ? "" : "<br>" + Self.links(figure.files))</figcaption>")
                    }
                    page.append("</figure>")
                }
                page.append("</div>")
            }
            page.append(contentsOf: section.html)
            page.append("</section>")
        }
        page.append("</body></html>")
        return page.joined(separator: "\n") + "\n"
    }

    static func links(_ files: [String]) -> String {
        "<span class=\"files\">" + files.map { "<a href=\"\(XMLText.escape($0))\">\(XMLText.escape($0))</a>" }.joined() + "</span>"
    }

    /// An SVG document as inline HTML: no XML declaration, and no namespace attribute (HTML puts
    /// `<svg>` in the SVG namespace itself; dropping it keeps the page free of any URL).
    static func inline(_ svg: String) -> String {
        var text = svg
        if text.hasPrefix("<?xml"), let end = text.range(of: "?>") { text = String(text[end.upperBound...]) }
        text = text.replacingOccurrences(of: " xmlns=\"http://www.w3.org/2000/svg\"", with: "")
        return text.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
