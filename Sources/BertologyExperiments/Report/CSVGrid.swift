import BertologyEngine
import Foundation

/// The one CSV writer for per-head grids and small tables: a header row, then one row per layer,
/// labelled as the paper labels them (`layer,H1,...,H12` / `L1,...`). Numbers are written in full
/// (Swift's shortest round-trip form), text fields quoted when they need it (RFC 4180).
enum CSVGrid {
    public static func text(_ grid: HeadGrid) -> String {
        table(header: ["layer"] + (1...grid.headCount).map { "H\($0)" },
              rows: (0..<grid.layerCount).map { layer in
                  ["L\(layer + 1)"] + (0..<grid.headCount).map { number(grid[layer, $0]) }
              })
    }

    /// A layers x heads grid of labels (for example the dominant pattern type of each head).
    public static func text(labels: [[String]]) -> String {
        table(header: ["layer"] + (1...(labels.first?.count ?? 0)).map { "H\($0)" },
              rows: labels.enumerated().map { ["L\($0.offset + 1)"] + $0.element })
    }

    public static func table(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(field).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    public static func number(_ value: Double) -> String {
        value.isFinite ? "\(value)" : ""
    }

    static func field(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}
