//! Helpers shared by the watch tests and the watch bench (which includes this folder by path): a graph-service
//! in-process, the real API server from `scripts/services.sh up kube`, and the `harvester watch` binary.
//! Each user needs only some of them.
#![allow(dead_code)]

pub mod cluster;
pub mod graph;
pub mod watch;
