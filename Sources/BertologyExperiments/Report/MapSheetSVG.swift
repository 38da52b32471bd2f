import BertologyEngine
import Foundation

/// A sheet of small attention maps in labelled groups (the pattern-type samples), so a person can
/// check what a classifier decided. Each map is an embedded PNG (nearest-neighbour scaled by the
/// viewer) coloured by sqrt(probability) on viridis, so weak structure stays visible; a dashed line
/// marks where the second sentence of a pair starts. Hovering a map shows its caption and notes.
struct MapSheet: Sendable {
    public struct Thumbnail: Sendable {
        /// Shown under the map.
        public var caption: String
        /// Shown on hover.
        public var notes: String
        /// Side of `pixels`.
        public var side: Int
        /// (side, side) values in [0, 1], rows = queries.
        public var pixels: [Float]
        /// Where the second segment starts, as a fraction of the side (nil for one sentence).
        public var segmentBoundary: Double?

        public init(caption: String, notes: String, side: Int, pixels: [Float], segmentBoundary: Double? = nil) {
            self.caption = caption
            self.notes = notes
            self.side = side
            self.pixels = pixels
            self.segmentBoundary = segmentBoundary
        }
    }

    public struct Group: Sendable {
        public var title: String
        public var thumbnails: [Thumbnail]
        /// Shown instead of maps when there are none.
        public var emptyNote: String?

        public init(title: String, thumbnails: [Thumbnail], emptyNote: String? = nil) {
            self.title = title
            self.thumbnails = thumbnails
            self.emptyNote = emptyNote
        }
    }

    public var title: String
    public var subtitle: String?
    public var groups: [Group]
    public var thumbnailSize: Double = 128
    public var columns: Int = 6

    public init(title: String, subtitle: String? = nil, groups: [Group]) {
        self.title = title
        self.subtitle = subtitle
        self.groups = groups
    }

    public func svg() -> String {
        let gap = 10.0, captionHeight = 16.0
        let top = 26.0 + (subtitle == nil ? 0 : 18) + 8
        let width = max(Double(columns) * (thumbnailSize + gap) + gap, SVGBuilder.titleWidth(title))
        var height = top
        for group in groups { height += 24 + groupHeight(group, captionHeight: captionHeight, gap: gap) }
        var svg = SVGBuilder(width: width, height: height + 6, title: title)
        svg.text(title, x: 8, y: 18, size: 15, weight: "bold")
        if let subtitle { svg.text(subtitle, x: 8, y: 36, size: 11, colour: "#555555") }
        let palette = (0..<256).map { ColourPalette.viridis.colour(at: Double($0) / 255) }
        var y = top
        for group in groups {
            svg.text(group.title, x: gap, y: y + 17, size: 13, weight: "bold")
            y += 24
            if group.thumbnails.isEmpty {
                svg.text(group.emptyNote ?? "(no maps of this type)", x: gap, y: y + 14, size: 11, colour: "#777777")
            }
            for (index, thumbnail) in group.thumbnails.enumerated() {
                let x = gap + Double(index % columns) * (thumbnailSize + gap)
                let cellY = y + Double(index / columns) * (thumbnailSize + captionHeight + gap)
                let indices = thumbnail.pixels.map { UInt8(min(255, max(0, (Double($0).squareRoot() * 255).rounded()))) }
                let png = PNGImage.indexed(width: thumbnail.side, height: thumbnail.side, indices: indices, palette: palette)
                svg.open("g")
                svg.element("title", text: thumbnail.caption + "\n" + thumbnail.notes)
                svg.element("image", attributes: [
                    "x": XMLText.number(x), "y": XMLText.number(cellY), "width": XMLText.number(thumbnailSize),
                    "height": XMLText.number(thumbnailSize), "preserveAspectRatio": "none",
                    "style": "image-rendering: pixelated; image-rendering: crisp-edges",
                    "href": "data:image/png;base64," + png.base64EncodedString(),
                ])
                if let boundary = thumbnail.segmentBoundary {
                    let offset = boundary * thumbnailSize
                    svg.line(x1: x + offset, y1: cellY, x2: x + offset, y2: cellY + thumbnailSize, stroke: "#ffffff", width: 0.8, dash: "3,3")
                    svg.line(x1: x, y1: cellY + offset, x2: x + thumbnailSize, y2: cellY + offset, stroke: "#ffffff", width: 0.8, dash: "3,3")
                }
                svg.text(thumbnail.caption, x: x, y: cellY + thumbnailSize + 12, size: 10, colour: "#333333")
                svg.close("g")
            }
            y += groupHeight(group, captionHeight: captionHeight, gap: gap)
        }
        return svg.finish()
    }

    private func groupHeight(_ group: Group, captionHeight: Double, gap: Double) -> Double {
        guard !group.thumbnails.isEmpty else { return 22 }
        let rows = (group.thumbnails.count + columns - 1) / columns
        return Double(rows) * (thumbnailSize + captionHeight + gap)
    }
}
