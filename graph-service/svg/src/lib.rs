//! # tekton-graph-svg
//!
//! Pictures for the server-rendered web UI, as inline SVG [`maud::Markup`]: no JavaScript and no external
//! assets, so a page works with scripts off and the browser tests can assert on plain markup.
//!
//! * [`dag`] draws a PipelineRun's task graph, [`timeline`] a Gantt chart of its TaskRuns and steps, and
//!   [`lineage`] the supply-chain neighbourhood of one node.
//! * [`layout`] is the layered (Sugiyama-style) layout that the two graphs share.
//!
//! Every renderer is a pure function: the same input gives the same string byte for byte (no clock, no hash
//! iteration order), so pages can be cached and snapshot-tested. Input comes from the graph, which is fed by
//! whatever runs in the cluster, so nothing here trusts it: all text goes through maud's escaping, links with
//! a scheme other than http(s) are dropped, CSS class tokens are sanitised, and malformed input (cycles,
//! edges to unknown nodes, duplicate ids, self-loops, huge counts) degrades the picture instead of panicking.
//! Big inputs are capped at [`MAX_NODES`] nodes and [`MAX_EDGES`] edges, with a visible note saying so.
//!
//! Colours are never inline: elements carry classes (`status-*`, `kind-*`, `edge`, …) and the page's CSS
//! paints them, so light and dark themes work. Only geometry and a few presentation defaults (font sizes,
//! dash patterns, `fill="none"` on lines) are attributes, and CSS overrides those too.

mod common;
pub mod dag;
pub mod layout;
pub mod lineage;
pub mod timeline;

pub use common::{MAX_EDGES, MAX_NODES};
pub use dag::{DagEdge, DagEdgeKind, DagNode, render_dag};
pub use lineage::{GraphEdge, GraphNode, render_lineage};
pub use timeline::{Bar, render_timeline};

/// The outcome of a run or step, reduced to what the pictures colour by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Status {
    Succeeded,
    Failed,
    Running,
    Pending,
    Skipped,
    Cancelled,
    #[default]
    Unknown,
}

impl Status {
    /// The CSS class suffix: elements get `status-<css>`.
    pub fn css(self) -> &'static str {
        match self {
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Running => "running",
            Status::Pending => "pending",
            Status::Skipped => "skipped",
            Status::Cancelled => "cancelled",
            Status::Unknown => "unknown",
        }
    }

    /// A human word for tooltips.
    pub fn label(self) -> &'static str {
        match self {
            Status::Succeeded => "Succeeded",
            Status::Failed => "Failed",
            Status::Running => "Running",
            Status::Pending => "Pending",
            Status::Skipped => "Skipped",
            Status::Cancelled => "Cancelled",
            Status::Unknown => "Unknown",
        }
    }

    /// Reads the GraphQL enum names (`SUCCEEDED`, `TIMED_OUT`, …) and Tekton's own spellings in any case.
    ///
    /// A timeout is shown as a failure because that is what it is to the reader; anything unrecognised is
    /// [`Status::Unknown`] rather than an error, since a picture should never fail on a new status value.
    pub fn from_str_lossy(s: &str) -> Status {
        let norm: String = s.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect();
        match norm.as_str() {
            "succeeded" | "success" | "successful" => Status::Succeeded,
            "failed" | "failure" | "error" | "timedout" | "timeout" => Status::Failed,
            "running" | "started" => Status::Running,
            "pending" | "queued" => Status::Pending,
            "skipped" => Status::Skipped,
            "cancelled" | "canceled" => Status::Cancelled,
            _ => Status::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Status;

    #[test]
    fn status_reads_graphql_names_in_any_case() {
        assert_eq!(Status::from_str_lossy("SUCCEEDED"), Status::Succeeded);
        assert_eq!(Status::from_str_lossy("failed"), Status::Failed);
        assert_eq!(Status::from_str_lossy("TIMED_OUT"), Status::Failed);
        assert_eq!(Status::from_str_lossy("TimedOut"), Status::Failed);
        assert_eq!(Status::from_str_lossy("Running"), Status::Running);
        assert_eq!(Status::from_str_lossy("pending"), Status::Pending);
        assert_eq!(Status::from_str_lossy("CANCELLED"), Status::Cancelled);
        assert_eq!(Status::from_str_lossy("Skipped"), Status::Skipped);
        assert_eq!(Status::from_str_lossy("UNKNOWN"), Status::Unknown);
        assert_eq!(Status::from_str_lossy(""), Status::Unknown);
        assert_eq!(Status::from_str_lossy("<script>"), Status::Unknown);
        assert_eq!(Status::from_str_lossy(" succeeded "), Status::Succeeded);
    }

    #[test]
    fn css_names_are_stable() {
        let all = [
            Status::Succeeded,
            Status::Failed,
            Status::Running,
            Status::Pending,
            Status::Skipped,
            Status::Cancelled,
            Status::Unknown,
        ];
        let css: Vec<_> = all.iter().map(|s| s.css()).collect();
        assert_eq!(css, ["succeeded", "failed", "running", "pending", "skipped", "cancelled", "unknown"]);
        for s in all {
            assert_eq!(Status::from_str_lossy(s.css()), s);
        }
    }
}
