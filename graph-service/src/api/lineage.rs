//! The lineage graph types.

use async_graphql::SimpleObject;

#[derive(SimpleObject)]
pub struct Lineage {
    /// Id of the node the graph is centred on.
    pub(super) root: String,
    pub(super) nodes: Vec<LineageNode>,
    pub(super) edges: Vec<LineageEdge>,
}

#[derive(SimpleObject)]
pub struct LineageNode {
    pub(super) id: String,
    pub(super) kind: String,
    pub(super) label: String,
}

#[derive(SimpleObject)]
pub struct LineageEdge {
    pub(super) from: String,
    pub(super) to: String,
    pub(super) kind: String,
}
