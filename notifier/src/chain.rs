//! Chain checks: an `eventListener` channel with `chain: { deadlineSeconds }` expects every call it made to start
//! a PipelineRun. The EventListener answers each call with an `eventID`, which Tekton Triggers puts on the runs it
//! creates as the label `triggers.tekton.dev/triggers-eventid`; the harvester brings them into the graph. This task
//! asks graph-service for the run of every waiting call; one found is `started` (with its run), one not found by
//! its deadline is `missed` and raises `dev.tektongraph.chain.missed.v1` — an event like any other, which
//! triggers route to people ("the scan pipeline did not start"). The chains live in the outbox: a restart goes on
//! with them, and the event's id is fixed per call, so it is raised once.

use std::sync::Weak;
use std::time::Duration;

use serde_json::json;

use crate::Notifier;
use crate::enrich::Graph;
use crate::event::Incoming;

/// The type of the event raised when a chain did not start in time.
pub const CHAIN_MISSED: &str = "dev.tektongraph.chain.missed.v1";
/// How often waiting chains are looked up.
pub const POLL: Duration = Duration::from_millis(500);

/// Watches the chains of `channels` (`(channel, deadline ms)`) until the notifier is gone.
pub async fn run(notifier: Weak<Notifier>, graph: Graph, channels: Vec<(String, i64)>) {
    let deadlines: std::collections::BTreeMap<String, i64> = channels.iter().cloned().collect();
    loop {
        let Some(notifier) = notifier.upgrade() else { return };
        if let Err(error) = check(&notifier, &graph, &channels, &deadlines).await {
            tracing::warn!(%error, "chain check failed; trying again");
        }
        drop(notifier);
        tokio::time::sleep(POLL).await;
    }
}

async fn check(
    notifier: &Notifier,
    graph: &Graph,
    channels: &[(String, i64)],
    deadlines: &std::collections::BTreeMap<String, i64>,
) -> Result<(), String> {
    let outbox = notifier.outbox();
    outbox.adopt_chains(channels.to_vec()).await.map_err(|e| e.to_string())?;
    for chain in outbox.waiting_chains().await.map_err(|e| e.to_string())? {
        let now = chrono::Utc::now().timestamp_millis();
        match graph.started_by(&chain.event_id).await {
            Ok(Some(run)) => {
                tracing::info!(channel = %chain.channel, event_id = %chain.event_id, %run, "chain started");
                outbox.end_chain(chain.delivery_id, "started", Some(run)).await.map_err(|e| e.to_string())?;
            }
            Ok(None) if now >= chain.deadline_ms => {
                tracing::warn!(channel = %chain.channel, event_id = %chain.event_id, "chain did not start in time");
                let deadline_seconds = deadlines.get(&chain.channel).copied().unwrap_or_default() / 1000;
                let event = Incoming {
                    id: format!("chain-missed-{}", chain.delivery_id),
                    ty: CHAIN_MISSED.into(),
                    source: "/tekton-graph/notifier".into(),
                    subject: Some(chain.channel.clone()),
                    time: chrono::DateTime::from_timestamp_millis(chain.deadline_ms),
                    data: json!({
                        "channel": chain.channel,
                        "eventId": chain.event_id,
                        "trigger": chain.trigger,
                        "cause": chain.cause,
                        "deliveryId": chain.delivery_id,
                        "deadlineSeconds": deadline_seconds,
                    }),
                    extensions: Default::default(),
                };
                // Recorded before the chain is marked: a crash in between raises the same event id again, which
                // the outbox absorbs.
                notifier.accept(&event).await.map_err(|e| e.to_string())?;
                outbox.end_chain(chain.delivery_id, "missed", None).await.map_err(|e| e.to_string())?;
            }
            Ok(None) => {}
            // The graph not answering is not a missed chain: keep waiting, and say so.
            Err(error) => tracing::warn!(event_id = %chain.event_id, %error, "cannot ask the graph about a chain"),
        }
    }
    Ok(())
}
