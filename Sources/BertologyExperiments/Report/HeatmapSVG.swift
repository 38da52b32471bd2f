import BertologyEngine
import Foundation

/// The one heatmap writer: a rows x columns grid of coloured cells (layers x heads, for every
/// per-head result and for ablation sweeps), with row and column labels, a colour bar showing the
/// range and, optionally, one marked value on it (the paper's orange baseline line of Fig 8/9).
/// Hovering a cell shows its label and value (an SVG `<title>`). The output is standalone SVG 1.1.
struct Heatmap: Sendable {
    /// A value marked on the colour bar.
    public struct Marker: Sendable {
        public var value: Double
        public var label: String
        public var colour: RGB

        public init(value: Double, label: String, colour: RGB = RGB(hex: 0xFF7F0E)) {
            self.value = value
            self.label = label
            self.colour = colour
        }
    }

    /// A named colour for categorical grids (values are category indices).
    public struct Category: Sendable {
        public var name: String
        public var abbreviation: String
        public var colour: RGB

        public init(name: String, abbreviation: String, colour: RGB) {
            self.name = name
            self.abbreviation = abbreviation
            self.colour = colour
        }
    }

    public var title: String
    public var subtitle: String?
    public var rowLabels: [String]
    public var columnLabels: [String]
    /// [row][column]; nil cells are drawn grey ("no value").
    public var values: [[Double?]]
    /// Colour range; nil: the values' minimum and maximum.
    public var range: ClosedRange<Double>?
    public var palette: ColourPalette = .viridis
    public var marker: Marker?
    /// Decimals in cell texts, hover texts and colour-bar labels.
    public var digits: Int = 3
    /// Print each value inside its cell.
    public var showValues: Bool = true
    /// What the colour bar measures ("cosine", "nats", ...).
    public var valueLabel: String?
    /// Extra hover text per cell, [row][column], appended to "L4-H1: value".
    public var cellNotes: [[String]]?
    /// When set, values are indices into these categories: cells take the category's colour and
    /// abbreviation, and a legend replaces the colour bar.
    public var categories: [Category]?
    public var cellWidth: Double = 40
    public var cellHeight: Double = 28

    public init(title: String, subtitle: String? = nil, rowLabels: [String], columnLabels: [String], values: [[Double?]]) {
        precondition(values.count == rowLabels.count && values.allSatisfy { $0.count == columnLabels.count },
                     "values must be rows x columns")
        self.title = title
        self.subtitle = subtitle
        self.rowLabels = rowLabels
        self.columnLabels = columnLabels
        self.values = values
    }

    /// A layers x heads heatmap of `grid`, labelled L1..Ln and H1..Hm as the paper labels heads.
    public init(title: String, subtitle: String? = nil, grid: HeadGrid) {
        self.init(title: title, subtitle: subtitle,
                  rowLabels: (1...grid.layerCount).map { "L\($0)" }, columnLabels: (1...grid.headCount).map { "H\($0)" },
                  values: grid.rows.map { $0.map { Optional($0) } })
    }

    /// The colour range used: `range`, else the finite values' minimum and maximum.
    public var effectiveRange: ClosedRange<Double> {
        if let range { return range }
        let finite = values.flatMap { $0 }.compactMap { $0 }.filter(\.isFinite)
        guard let low = finite.min(), let high = finite.max() else { return 0...1 }
        return low...high
    }

    func position(_ value: Double, in range: ClosedRange<Double>) -> Double {
        let span = range.upperBound - range.lowerBound
        return span > 0 ? (value - range.lowerBound) / span : 0.5
    }

    public func svg() -> String {
        let rows = rowLabels.count, columns = columnLabels.count
        let range = effectiveRange
        let titleHeight = 26.0, subtitleHeight = subtitle == nil ? 0.0 : 18.0
        let labelWidth = max(34.0, 7.0 * Double(rowLabels.map(\.count).max() ?? 2) + 10)
        let gridLeft = labelWidth, gridTop = titleHeight + subtitleHeight + 20
        let gridWidth = Double(columns) * cellWidth, gridHeight = Double(rows) * cellHeight
        let barLeft = gridLeft + gridWidth + 24, barWidth = 14.0
        let barHeight = max(gridHeight, 120)
        let sideWidth: Double
        if let categories {
            sideWidth = 40 + 7.0 * Double(categories.map(\.name.count).max() ?? 8)
        } else {
            sideWidth = barWidth + 70 + (marker.map { 7.0 * Double($0.label.count) + 20 } ?? 0)
        }
        let width = max(barLeft + sideWidth, SVGBuilder.titleWidth(title), subtitle.map { 6.2 * Double($0.count) + 16 } ?? 0)
        let height = gridTop + max(gridHeight, categories == nil ? barHeight : 0) + (valueLabel == nil ? 16 : 32)
        var svg = SVGBuilder(width: width, height: height, title: title)
        svg.text(title, x: 8, y: 18, size: 15, weight: "bold")
        if let subtitle { svg.text(subtitle, x: 8, y: 36, size: 11, colour: "#555555") }
        for (column, label) in columnLabels.enumerated() {
            svg.text(label, x: gridLeft + (Double(column) + 0.5) * cellWidth, y: gridTop - 6, size: 11, anchor: "middle")
        }
        for (row, label) in rowLabels.enumerated() {
            svg.text(label, x: gridLeft - 6, y: gridTop + (Double(row) + 0.5) * cellHeight + 4, size: 11, anchor: "end")
        }
        for row in 0..<rows {
            for column in 0..<columns {
                let x = gridLeft + Double(column) * cellWidth, y = gridTop + Double(row) * cellHeight
                let value = values[row][column]
                let fill: RGB, text: String, hover: String
                let name = "\(rowLabels[row])-\(columnLabels[column])"
                if let value, value.isFinite {
                    if let categories, categories.indices.contains(Int(value)) {
                        let category = categories[Int(value)]
                        (fill, text, hover) = (category.colour, category.abbreviation, "\(name): \(category.name)")
                    } else {
                        fill = palette.colour(at: position(value, in: range))
                        text = XMLText.format(value, digits: digits)
                        hover = "\(name): \(XMLText.format(value, digits: max(digits, 4)))"
                    }
                } else {
                    (fill, text, hover) = (RGB(0xCC, 0xCC, 0xCC), "", "\(name): no value")
                }
                let note = cellNotes.map { " (\($0[row][column]))" } ?? ""
                svg.open("g")
                svg.element("title", text: hover + note)
                svg.rect(x: x, y: y, width: cellWidth, height: cellHeight, fill: fill.css, stroke: "#ffffff")
                if showValues && !text.isEmpty {
                    svg.text(text, x: x + cellWidth / 2, y: y + cellHeight / 2 + 3.5, size: 10, anchor: "middle",
                             colour: fill.textColour.css)
                }
                svg.close("g")
            }
        }
        if let categories {
            for (index, category) in categories.enumerated() {
                let y = gridTop + Double(index) * 20
                svg.rect(x: barLeft, y: y, width: 14, height: 14, fill: category.colour.css, stroke: "#ffffff")
                svg.text("\(category.abbreviation): \(category.name)", x: barLeft + 20, y: y + 11, size: 11)
            }
        } else {
            drawColourBar(&svg, left: barLeft, top: gridTop, width: barWidth, height: barHeight, range: range)
        }
        if let valueLabel {
            svg.text(valueLabel, x: gridLeft, y: gridTop + max(gridHeight, categories == nil ? barHeight : 0) + 20, size: 11, colour: "#555555")
        }
        return svg.finish()
    }

    private func drawColourBar(_ svg: inout SVGBuilder, left: Double, top: Double, width: Double, height: Double,
                               range: ClosedRange<Double>) {
        // Unique per figure (several are inlined into one page) and the same on every run.
        let id = "bar-\(XMLText.identifier(title + (subtitle ?? "")))"
        svg.open("defs")
        svg.open("linearGradient", attributes: ["id": id, "x1": "0", "y1": "1", "x2": "0", "y2": "0"])
        for (index, stop) in palette.stops.enumerated() {
            let offset = Double(index) / Double(palette.stops.count - 1)
            svg.element("stop", attributes: ["offset": XMLText.number(offset * 100) + "%", "stop-color": stop.css])
        }
        svg.close("linearGradient")
        svg.close("defs")
        svg.open("g")
        svg.element("title", text: "colour scale: \(XMLText.format(range.lowerBound, digits: max(digits, 4))) to \(XMLText.format(range.upperBound, digits: max(digits, 4)))")
        svg.element("rect", attributes: ["x": XMLText.number(left), "y": XMLText.number(top), "width": XMLText.number(width),
                                         "height": XMLText.number(height), "fill": "url(#\(id))", "stroke": "#888888"])
        svg.close("g")
        let ticks = [range.upperBound, (range.lowerBound + range.upperBound) / 2, range.lowerBound]
        for (index, value) in ticks.enumerated() {
            let y = top + Double(index) * height / 2
            svg.line(x1: left + width, y1: y, x2: left + width + 4, y2: y, stroke: "#444444")
            svg.text(XMLText.format(value, digits: digits), x: left + width + 7, y: y + 4, size: 10)
        }
        if let marker, marker.value.isFinite {
            let t = min(1, max(0, position(marker.value, in: range)))
            let y = top + (1 - t) * height
            svg.open("g")
            svg.element("title", text: "\(marker.label): \(XMLText.format(marker.value, digits: max(digits, 4)))")
            svg.line(x1: left - 4, y1: y, x2: left + width + 4, y2: y, stroke: marker.colour.css, width: 3)
            svg.text("\(marker.label) \(XMLText.format(marker.value, digits: digits))", x: left + width + 48, y: y + 4, size: 10,
                     colour: marker.colour.css, weight: "bold")
            svg.close("g")
        }
    }
}

/// Builds SVG text element by element, escaping every string.
struct SVGBuilder {
    private var parts: [String] = []
    private var depth = 0

    init(width: Double, height: Double, title: String) {
        parts.append("<?xml version=\"1.0\" encoding=\"UTF-8\"?>")
        parts.append("<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"\(XMLText.number(width))\" height=\"\(XMLText.number(height))\" viewBox=\"0 0 \(XMLText.number(width)) \(XMLText.number(height))\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\">")
        parts.append("<title>\(XMLText.escape(title))</title>")
        parts.append("<rect x=\"0\" y=\"0\" width=\"\(XMLText.number(width))\" height=\"\(XMLText.number(height))\" fill=\"#ffffff\"/>")
    }

    mutating func open(_ name: String, attributes: [String: String] = [:]) {
        parts.append("<\(name)\(Self.attributes(attributes))>")
        depth += 1
    }

    mutating func close(_ name: String) {
        parts.append("</\(name)>")
        depth -= 1
    }

    mutating func element(_ name: String, attributes: [String: String] = [:], text: String? = nil) {
        if let text {
            parts.append("<\(name)\(Self.attributes(attributes))>\(XMLText.escape(text))</\(name)>")
        } else {
            parts.append("<\(name)\(Self.attributes(attributes))/>")
        }
    }

    /// Raw markup (already valid XML).
    mutating func raw(_ markup: String) { parts.append(markup) }

    mutating func rect(x: Double, y: Double, width: Double, height: Double, fill: String, stroke: String? = nil) {
        var attributes = ["x": XMLText.number(x), "y": XMLText.number(y), "width": XMLText.number(width),
                          "height": XMLText.number(height), "fill": fill]
        if let stroke { attributes["stroke"] = stroke }
        element("rect", attributes: attributes)
    }

    mutating func line(x1: Double, y1: Double, x2: Double, y2: Double, stroke: String, width: Double = 1, dash: String? = nil) {
        var attributes = ["x1": XMLText.number(x1), "y1": XMLText.number(y1), "x2": XMLText.number(x2), "y2": XMLText.number(y2),
                          "stroke": stroke, "stroke-width": XMLText.number(width)]
        if let dash { attributes["stroke-dasharray"] = dash }
        element("line", attributes: attributes)
    }

    mutating func text(_ text: String, x: Double, y: Double, size: Double, anchor: String = "start",
                       colour: String = "#000000", weight: String? = nil) {
        var attributes = ["x": XMLText.number(x), "y": XMLText.number(y), "font-size": XMLText.number(size), "fill": colour]
        if anchor != "start" { attributes["text-anchor"] = anchor }
        if let weight { attributes["font-weight"] = weight }
        element("text", attributes: attributes, text: text)
    }

    /// About how wide a 15-pixel bold title is (DejaVu Sans Bold averages under 9 pixels a character).
    static func titleWidth(_ title: String) -> Double { 9.0 * Double(title.count) + 16 }

    func finish() -> String {
        precondition(depth == 0, "unbalanced SVG elements")
        return (parts + ["</svg>"]).joined(separator: "\n") + "\n"
    }

    /// Attributes in sorted order (deterministic output).
    private static func attributes(_ attributes: [String: String]) -> String {
        attributes.keys.sorted().map { " \($0)=\"\(XMLText.escape(attributes[$0]!))\"" }.joined()
    }
}
