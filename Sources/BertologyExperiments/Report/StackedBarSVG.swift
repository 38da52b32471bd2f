import BertologyEngine
import Foundation

/// The one stacked-bar writer: one vertical bar per group (a task, a layer), each split into
/// categories by percentage (the paper's Fig 2), with a legend; hovering a segment shows its value.
struct StackedBars: Sendable {
    public struct Bar: Sendable {
        public var label: String
        /// One value per category, in percent (they should sum to about 100).
        public var percentages: [Double]

        public init(label: String, percentages: [Double]) {
            self.label = label
            self.percentages = percentages
        }
    }

    public var title: String
    public var subtitle: String?
    public var categories: [Heatmap.Category]
    public var bars: [Bar]
    public var barWidth: Double = 46
    public var plotHeight: Double = 260

    public init(title: String, subtitle: String? = nil, categories: [Heatmap.Category], bars: [Bar]) {
        precondition(bars.allSatisfy { $0.percentages.count == categories.count }, "one percentage per category")
        self.title = title
        self.subtitle = subtitle
        self.categories = categories
        self.bars = bars
    }

    public func svg() -> String {
        let top = 26.0 + (subtitle == nil ? 0 : 18) + 14
        let left = 44.0, gap = 14.0
        let plotWidth = Double(bars.count) * (barWidth + gap) + gap
        let legendLeft = left + plotWidth + 20
        let legendWidth = 40 + 7.0 * Double(categories.map(\.name.count).max() ?? 8)
        let width = max(legendLeft + legendWidth, SVGBuilder.titleWidth(title))
        let height = top + plotHeight + 34
        var svg = SVGBuilder(width: width, height: height, title: title)
        svg.text(title, x: 8, y: 18, size: 15, weight: "bold")
        if let subtitle { svg.text(subtitle, x: 8, y: 36, size: 11, colour: "#555555") }
        // Axis with ticks every 25%.
        for percent in stride(from: 0, through: 100, by: 25) {
            let y = top + plotHeight * (1 - Double(percent) / 100)
            svg.line(x1: left - 4, y1: y, x2: left + plotWidth, y2: y, stroke: percent == 0 ? "#444444" : "#e0e0e0")
            svg.text("\(percent)%", x: left - 7, y: y + 4, size: 10, anchor: "end")
        }
        for (index, bar) in bars.enumerated() {
            let x = left + gap + Double(index) * (barWidth + gap)
            var cumulative = 0.0
            let total = max(bar.percentages.reduce(0, +), 1e-12)
            for (category, percentage) in zip(categories, bar.percentages) where percentage > 0 {
                // Normalised to the bar's total, so rounding never overflows the axis.
                let share = percentage / total
                let segmentHeight = plotHeight * share
                let y = top + plotHeight * (1 - cumulative - share)
                svg.open("g")
                svg.element("title", text: "\(bar.label): \(category.name) \(XMLText.format(percentage, digits: 1))%")
                svg.rect(x: x, y: y, width: barWidth, height: segmentHeight, fill: category.colour.css, stroke: "#ffffff")
                if segmentHeight >= 13 {
                    svg.text(XMLText.format(percentage, digits: 0), x: x + barWidth / 2, y: y + segmentHeight / 2 + 4, size: 10,
                             anchor: "middle", colour: category.colour.textColour.css)
                }
                svg.close("g")
                cumulative += share
            }
            svg.text(bar.label, x: x + barWidth / 2, y: top + plotHeight + 16, size: 11, anchor: "middle")
        }
        for (index, category) in categories.enumerated().reversed() {
            let y = top + Double(categories.count - 1 - index) * 20
            svg.rect(x: legendLeft, y: y, width: 14, height: 14, fill: category.colour.css, stroke: "#ffffff")
            svg.text(category.name, x: legendLeft + 20, y: y + 11, size: 11)
        }
        return svg.finish()
    }
}
