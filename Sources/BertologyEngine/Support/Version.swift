/// The version of Bertology, recorded in results whose numbers depend on it (ablation journals:
/// a sweep resumed or merged across versions is refused).
package enum BertologyVersion {
    package static let current = "0.6.0"
}
