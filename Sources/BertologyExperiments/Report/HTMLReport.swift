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

    public func html() -> String {
        var page: [String] = []
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
        return WebResource.page.filled(["title": XMLText.escape(title), "body": page.joined(separator: "\n")]) + "\n"
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
