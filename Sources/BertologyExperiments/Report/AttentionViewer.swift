import BertologyEngine
import Foundation

/// The interactive attention viewer: a self-contained HTML `<section>` (inline style, script and
/// data; plain JavaScript and SVG/canvas, nothing fetched) that shows the maps of an
/// ``AttentionViewerData``.
///
/// Pick an example, a layer and a head, or all heads of a layer as thumbnails; the map is drawn as
/// a heatmap with the tokens on both axes (rows = queries, columns = keys), the pre-trained and
/// fine-tuned maps side by side, with the pattern type the classifier gave each, and the head's
/// ablation score when the data has one. A layers x heads grid shows every head's type on the
/// current example (coloured by the ablation score's change when there is a sweep) and selects on
/// click. Keys: left/right head, up/down layer, j/k next/previous example, a all heads of the layer
/// or one head. The state is in the URL (`#ex=3&layer=2&head=5&view=head`, all 1-based; with
/// several viewers on a page, `v=<viewer id>` says which one) and in the DOM (`data-*` attributes
/// of the section, maps, cells and thumbnails) for tests. docs/VIEWER.md.
public enum AttentionViewer {
    /// The viewer as one `<section>` to put into a page (several may share a page).
    /// - Parameters:
    ///   - data: what to show.
    ///   - id: the section's id (unique on the page); by default derived from the task and the models.
    public static func fragment(_ data: AttentionViewerData, id: String? = nil) -> String {
        let id = id ?? "attention-viewer-" + XMLText.identifier(
            [data.task, data.split, data.pretrained.model, data.finetuned?.model ?? ""].joined(separator: "\u{1F}"))
        let config = patternConfig
        return WebResource.viewerSection.filled(["id": XMLText.escape(id), "data": scriptJSON(data), "config": scriptJSON(config)])
    }

    /// A whole self-contained page holding one viewer.
    /// - Parameters:
    ///   - data: what to show.
    ///   - title: the page's title and heading.
    public static func page(_ data: AttentionViewerData, title: String) -> String {
        var body: [String] = []
        body.append("<h1>\(XMLText.escape(title))</h1>")
        let models = data.pretrained.model + (data.finetuned.map { " and \($0.model)" } ?? "")
        body.append("<p class=\"subtitle\">\(XMLText.escape("\(models) on \(data.examples.count) of \(data.population) \(data.task) \(data.split) examples (seed \(data.seed)), inputs cut to \(data.maxTokens) tokens."))</p>")
        body.append(fragment(data))
        return WebResource.page.filled(["title": XMLText.escape(title), "body": body.joined(separator: "\n")]) + "\n"
    }

    /// The viewer's script (`Resources/web/viewer.js`), for a page that loads it rather than inlining it:
    /// `bertologyAttentionViewer(section, data, config)` draws the viewer of an ``AttentionViewerData``
    /// (decoded from its JSON) into an empty element of class `bv-viewer`, with ``patternConfig`` as `config`.
    public static var javaScript: String { WebResource.viewerJS.text + "\n" }

    /// The viewer's style sheet (`Resources/web/viewer.css`).
    public static var styleSheet: String { WebResource.viewerCSS.text + "\n" }

    /// The pattern types' colours, abbreviations and titles, as the script's `config` wants them.
    public static var patternConfig: [String: [String]] {
        let categories = AnalysisReport.patternCategories
        return [
            "colours": categories.map(\.colour.css), "abbreviations": categories.map(\.abbreviation),
            "titles": categories.map(\.name),
        ]
    }

    /// JSON for a script element of type `application/json`: `<` written as `\u003c` (it only
    /// occurs inside JSON strings), so no `</script>` or `<!--` can end or change the element.
    static func scriptJSON<T: Encodable>(_ value: T) -> String {
        // Encoding fails only for non-finite floats, which JSONOutput writes as strings.
        let text = String(decoding: (try? JSONOutput.encode(value)) ?? Data("null".utf8), as: UTF8.self)
        return text.replacingOccurrences(of: "<", with: "\\u003c")
    }
}
