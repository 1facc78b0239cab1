//! One node's edges, reference-counted by the runs that contribute them.

use std::collections::HashMap;

use crate::model::EdgeKind;

/// An edge seen from one of its ends: its kind, the node at the other end, and whether it leaves this node.
pub type AdjacencyKey = (EdgeKind, u32, bool);

/// Past this many distinct edges a node's list becomes a hash map.
const FEW: usize = 16;

/// Most nodes have a handful of edges and are kept in a short vector (12 bytes an edge, searched linearly); hubs —
/// a Pipeline, Repository or System touches every run it ever had — move to a hash map, so that adding or removing
/// one of their edges stays constant-time.
#[derive(Debug)]
pub enum Adjacent {
    Few(Vec<(AdjacencyKey, u32)>),
    #[expect(clippy::box_collection, reason = "boxed, the enum is a vector's 24 bytes on each of a million nodes")]
    Many(Box<HashMap<AdjacencyKey, u32>>),
}

impl Default for Adjacent {
    fn default() -> Self {
        Adjacent::Few(Vec::new())
    }
}

impl Adjacent {
    pub fn is_empty(&self) -> bool {
        match self {
            Adjacent::Few(edges) => edges.is_empty(),
            Adjacent::Many(edges) => edges.is_empty(),
        }
    }

    /// The distinct edges, in no particular order.
    pub fn keys(&self) -> Box<dyn Iterator<Item = &AdjacencyKey> + '_> {
        match self {
            Adjacent::Few(edges) => Box::new(edges.iter().map(|(key, _)| key)),
            Adjacent::Many(edges) => Box::new(edges.keys()),
        }
    }

    /// Counts one more contribution of `key`.
    pub fn add(&mut self, key: AdjacencyKey) {
        match self {
            Adjacent::Few(edges) => match edges.iter().position(|(k, _)| *k == key) {
                Some(at) => edges[at].1 += 1,
                None if edges.len() < FEW => edges.push((key, 1)),
                None => {
                    let mut many: HashMap<AdjacencyKey, u32> = edges.drain(..).collect();
                    many.insert(key, 1);
                    *self = Adjacent::Many(Box::new(many));
                }
            },
            Adjacent::Many(edges) => *edges.entry(key).or_insert(0) += 1,
        }
    }

    /// Counts one contribution of `key` less; the edge goes when none is left.
    pub fn remove(&mut self, key: AdjacencyKey) {
        match self {
            Adjacent::Few(edges) => {
                if let Some(at) = edges.iter().position(|(k, _)| *k == key) {
                    edges[at].1 -= 1;
                    if edges[at].1 == 0 {
                        edges.swap_remove(at);
                        if edges.is_empty() {
                            edges.shrink_to_fit();
                        }
                    }
                }
            }
            Adjacent::Many(edges) => {
                if let Some(count) = edges.get_mut(&key) {
                    *count -= 1;
                    if *count == 0 {
                        edges.remove(&key);
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(adjacent: &Adjacent) -> Vec<AdjacencyKey> {
        let mut keys: Vec<AdjacencyKey> = adjacent.keys().copied().collect();
        keys.sort();
        keys
    }

    #[test]
    fn a_node_costs_a_vector_not_a_hash_map() {
        assert_eq!(std::mem::size_of::<Adjacent>(), std::mem::size_of::<Vec<(AdjacencyKey, u32)>>());
        assert_eq!(std::mem::size_of::<(AdjacencyKey, u32)>(), 12);
    }

    #[test]
    fn an_edge_stays_while_any_run_contributes_it() {
        let mut adjacent = Adjacent::default();
        let edge = (EdgeKind::PartOf, 7, true);
        adjacent.add(edge);
        adjacent.add(edge);
        adjacent.remove(edge);
        assert_eq!(keys(&adjacent), vec![edge]);
        adjacent.remove(edge);
        assert!(adjacent.is_empty());
        adjacent.remove(edge);
        assert!(adjacent.is_empty(), "removing what is not there changes nothing");
    }

    #[test]
    fn a_hub_keeps_its_counts_when_it_becomes_a_map() {
        let mut adjacent = Adjacent::default();
        let edges: Vec<AdjacencyKey> = (0..3 * FEW as u32).map(|n| (EdgeKind::Produced, n, false)).collect();
        for &edge in &edges {
            adjacent.add(edge);
        }
        adjacent.add(edges[0]);
        assert!(matches!(adjacent, Adjacent::Many(_)));
        assert_eq!(keys(&adjacent), edges);
        adjacent.remove(edges[0]);
        adjacent.remove(edges[1]);
        assert_eq!(keys(&adjacent).len(), edges.len() - 1, "edge 0 was counted twice, edge 1 once");
        assert!(keys(&adjacent).contains(&edges[0]));
    }
}
