//! # graph-service
//!
//! Consumes tekton-graph facts and answers questions about the software supply chain they describe.
//!
//! The data path runs one way:
//!
//! ```text
//! POST /events ─▶ ingest (decode + validate whole request) ─▶ GraphStore::apply ─▶ store
//! Kafka topic ─▶ source::kafka ─▶ ingest (bad → dead-letter) ─▶ GraphStore::apply ─┤ (then commit offsets)
//!                                                                                  │
//! GET|POST /graphql ─▶ api (async-graphql) ─▶ view (shared derivations) ─▶ GraphStore reads
//! ```
//!
//! * [`model`] defines the graph (node ids, edge kinds) and projects one fact onto the edges it contributes.
//! * [`store`] is the one contract every engine implements; [`store::embedded`] is the default engine.
//! * [`view`] derives everything the API shows from the store's reads, so engines cannot disagree.
//! * [`api`] is the GraphQL schema, [`server`] the HTTP routes, [`demo`] the bundled sample data.
//! * [`source`] holds the non-HTTP inputs ([`source::kafka`]), which run next to the server.
//! * [`ui`] is the web UI (server-rendered pages that read through the GraphQL schema), [`live`] its live updates.
//! * [`metrics`] is what `GET /metrics` shows (Prometheus).
//! * [`edge`] holds the limits every request passes, [`auth`] who may call what (OIDC, static tokens, policy).
//! * [`sensemaker`] turns what an apply changed into CloudEvents (CDEvents and our own) for HTTP and Kafka sinks.

pub mod api;
pub mod auth;
pub mod cli;
pub mod demo;
pub mod edge;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod model;
pub mod sensemaker;
pub mod server;
pub mod source;
pub mod store;
pub mod ui;
pub mod view;
