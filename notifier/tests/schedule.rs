//! A cron schedule fires its slots as events that a trigger routes to a channel (an EventListener starting a
//! pipeline); a restart neither repeats a fired slot nor loses the one it missed while it was down.

mod support;

use std::time::Duration;

use chrono::{DateTime, Utc};
use notifier::Notifier;
use notifier::config::Config;
use support::{Answer, Receiver};

/// The slots the listener got, once per delivery: a request in flight when the notifier stopped is sent once more
/// after the restart, with the same `Idempotency-Key` (which a receiver drops).
fn slots(receiver: &Receiver) -> Vec<DateTime<Utc>> {
    let mut seen = std::collections::BTreeSet::new();
    receiver
        .received()
        .iter()
        .filter(|r| seen.insert(r.headers["idempotency-key"].to_str().expect("key").to_string()))
        .map(|r| {
            let slot = r.body["slot"].as_str().expect("slot");
            DateTime::parse_from_rfc3339(slot).expect("rfc3339").to_utc()
        })
        .collect()
}

#[tokio::test]
async fn slots_fire_once_each_across_a_restart_and_the_missed_one_fires_after_it() {
    let listener = Receiver::start(vec![], Answer::new(202, r#"{"eventListenerUID":"u","eventID":"e"}"#)).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let yaml = format!(
        "schedules: {{ every-second: {{ cron: '* * * * * *', timezone: Europe/Berlin, with: {{ pipeline: dependency-check }} }} }}\n\
         channels: {{ deps: {{ type: eventListener, url: '{}', body: '{{\"slot\": {{{{ event.data.slot }}}}, \"pipeline\": {{{{ event.data.with.pipeline }}}}}}' }} }}\n\
         triggers: {{ nightly: {{ on: dev.tektongraph.schedule.fired.v1, when: 'data.schedule == \"every-second\"' }} }}\n\
         subscriptions: [{{ triggers: [nightly], channels: [deps] }}]\n",
        listener.url("/")
    );
    let config = Config::parse(&yaml).expect("rules");
    let db = dir.path().join("outbox.db");

    let first = Notifier::start(&config, &db).await.expect("start");
    listener.wait_for(2, Duration::from_secs(10)).await;
    drop(first);
    let stopped = Utc::now();
    let before = slots(&listener).len();
    // Down for more than a slot (a wall-clock gap the schedule must notice, not a synchronisation).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_eq!(slots(&listener).len(), before, "nothing fires while the notifier is down");

    let second = Notifier::start(&config, &db).await.expect("restart");
    // The schedule's task reads the clock just after this; 100 ms covers its start.
    let restarted = Utc::now() + chrono::Duration::milliseconds(100);
    support::eventually(Duration::from_secs(10), "two slots after the restart", || async {
        (slots(&listener).len() >= before + 2).then_some(())
    })
    .await;
    drop(second);

    let fired = slots(&listener);
    assert!(fired.windows(2).all(|w| w[0] < w[1]), "every slot once, in order: {fired:?}");
    let caught_up = fired[before];
    assert!(
        caught_up > stopped && caught_up <= restarted,
        "the first slot after the restart is the one missed while down ({caught_up} in ({stopped}, {restarted}])"
    );
    assert_eq!(listener.received()[0].body["pipeline"], "dependency-check");
}
