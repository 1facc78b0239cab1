//! # tekton-graph-schema
//!
//! The contract between the harvester (which observes Tekton) and the graph service (which builds the supply-chain
//! graph): the fact types ([`fact`]), their CloudEvent envelope ([`envelope`]), the key normalization both
//! sides must agree on ([`normalize`]) and the join that merges partial observations of one run, such as CDEvents
//! ([`merge`]). The JSON Schema of the fact data lives in `schema/json/run-fact.schema.json` and the GraphQL SDL in
//! `schema/graphql/schema.graphql`; tests keep both in step with the code.
//!
//! This crate is a leaf: it does no IO and knows nothing about Tekton's object shapes (that is the translator's job)
//! or about storage (the graph service's).

pub mod canonical;
pub mod envelope;
pub mod fact;
pub mod kafka;
pub mod merge;
pub mod normalize;
pub mod validate;

pub use fact::*;

/// The JSON Schema of the fact data (`data` of our CloudEvents).
pub const RUN_FACT_JSON_SCHEMA: &str = include_str!("../json/run-fact.schema.json");
