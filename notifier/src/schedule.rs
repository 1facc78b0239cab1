//! Cron schedules (croner, IANA time zones): each slot becomes an event, `dev.tektongraph.schedule.fired.v1`
//! (`subject`: the schedule, `data`: `{schedule, slot, timezone, with}`), that triggers route like any other —
//! e.g. to an EventListener that starts the nightly dependency-check pipeline. Tekton Triggers has no cron.
//!
//! Restarts neither repeat nor lose a slot: the last fired slot is kept in the outbox file, a restart fires the
//! most recent slot it missed (once — like a Kubernetes CronJob, not every missed one), and the event id is a hash
//! of the schedule and the slot, so a slot fired just before a crash is recognised as a duplicate.

use std::str::FromStr;
use std::sync::Weak;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use croner::Cron;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::Notifier;
use crate::config::ScheduleConfig;
use crate::event::Incoming;

/// The type of the events schedules fire.
pub const SCHEDULE_FIRED: &str = "dev.tektongraph.schedule.fired.v1";

pub struct Schedule {
    pub name: String,
    cron: Cron,
    pattern: String,
    timezone: Tz,
    with: Value,
}

impl Schedule {
    pub fn compile(name: &str, config: &ScheduleConfig) -> Result<Schedule, String> {
        let cron = Cron::from_str(&config.cron).map_err(|e| format!("schedules.{name}.cron `{}`: {e}", config.cron))?;
        let timezone = Tz::from_str(&config.timezone)
            .map_err(|_| format!("schedules.{name}.timezone: `{}` is not an IANA time zone", config.timezone))?;
        Ok(Schedule { name: name.to_string(), cron, pattern: config.cron.clone(), timezone, with: config.with.clone() })
    }

    /// The most recent slot at or before `now`.
    pub fn latest(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_previous_occurrence(&now.with_timezone(&self.timezone), true).ok().map(|t| t.to_utc())
    }

    /// The first slot after `after`.
    pub fn next(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron.find_next_occurrence(&after.with_timezone(&self.timezone), false).ok().map(|t| t.to_utc())
    }

    /// The slot to fire at `now` after `last` was fired: the most recent one since, if any.
    pub fn due(&self, last: DateTime<Utc>, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.latest(now).filter(|slot| *slot > last)
    }

    /// The event of `slot`.
    pub fn event(&self, slot: DateTime<Utc>) -> Incoming {
        let local = slot.with_timezone(&self.timezone).to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut hasher = Sha256::new();
        for part in [self.name.as_str(), self.pattern.as_str(), &slot.timestamp_millis().to_string()] {
            hasher.update(part.as_bytes());
            hasher.update([0]);
        }
        Incoming {
            id: hex::encode(&hasher.finalize()[..16]),
            ty: SCHEDULE_FIRED.into(),
            source: "/tekton-graph/notifier/schedules".into(),
            subject: Some(self.name.clone()),
            time: Some(slot),
            data: json!({
                "schedule": self.name,
                "slot": local,
                "timezone": self.timezone.name(),
                "with": self.with,
            }),
            extensions: Default::default(),
        }
    }
}

/// Fires `schedule`'s slots until the notifier is gone.
pub async fn run(schedule: Schedule, notifier: Weak<Notifier>) {
    let millis = |t: DateTime<Utc>| t.timestamp_millis();
    loop {
        let Some(live) = notifier.upgrade() else { return };
        let now = Utc::now();
        let last = match live.outbox().schedule_last(&schedule.name).await {
            Ok(Some(ms)) => DateTime::from_timestamp_millis(ms),
            Ok(None) => {
                // The first start: from now on, not the slots before it.
                let start = schedule.latest(now).unwrap_or(now);
                if let Err(e) = live.outbox().set_schedule_last(&schedule.name, millis(start)).await {
                    tracing::error!(schedule = %schedule.name, error = %e, "cannot record the schedule's start");
                }
                Some(start)
            }
            Err(e) => {
                tracing::error!(schedule = %schedule.name, error = %e, "cannot read the schedule's last slot");
                None
            }
        };
        if let Some(slot) = last.and_then(|last| schedule.due(last, now)) {
            let event = schedule.event(slot);
            match live.accept(&event).await {
                Ok(recorded) => {
                    tracing::info!(schedule = %schedule.name, %slot, queued = recorded.queued,
                        duplicate = recorded.duplicate, "schedule fired");
                    if let Err(e) = live.outbox().set_schedule_last(&schedule.name, millis(slot)).await {
                        tracing::error!(schedule = %schedule.name, error = %e, "cannot record the fired slot");
                    }
                }
                Err(e) => {
                    tracing::error!(schedule = %schedule.name, %slot, error = %e, "schedule could not fire; retrying");
                    drop(live);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
            }
        }
        drop(live);
        let wait = schedule
            .next(now)
            .map(|next| (next - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(3600));
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text).expect("time").to_utc()
    }

    fn schedule(cron: &str, timezone: &str) -> Schedule {
        let config = ScheduleConfig { cron: cron.into(), timezone: timezone.into(), with: Value::Null };
        Schedule::compile("nightly", &config).expect("schedule")
    }

    #[test]
    fn slots_follow_the_time_zone_across_daylight_saving() {
        let nightly = schedule("0 3 * * *", "Europe/Berlin");
        // 03:00 in Berlin is 02:00 UTC in winter (CET) and 01:00 UTC in summer (CEST).
        assert_eq!(nightly.next(at("2026-12-01T12:00:00Z")), Some(at("2026-12-02T02:00:00Z")));
        assert_eq!(nightly.next(at("2026-07-01T12:00:00Z")), Some(at("2026-07-02T01:00:00Z")));
        assert_eq!(nightly.latest(at("2026-12-02T02:00:00Z")), Some(at("2026-12-02T02:00:00Z")), "inclusive");
    }

    #[test]
    fn a_restart_fires_the_latest_missed_slot_once_and_never_a_fired_one() {
        let nightly = schedule("0 3 * * *", "UTC");
        let fired = at("2026-12-01T03:00:00Z");
        assert_eq!(nightly.due(fired, at("2026-12-01T09:00:00Z")), None, "nothing missed");
        assert_eq!(nightly.due(fired, at("2026-12-03T09:00:00Z")), Some(at("2026-12-03T03:00:00Z")), "the latest");
        let event = nightly.event(at("2026-12-03T03:00:00Z"));
        assert_eq!(event.id, nightly.event(at("2026-12-03T03:00:00Z")).id, "same slot, same id");
        assert_ne!(event.id, nightly.event(at("2026-12-02T03:00:00Z")).id);
        assert_eq!(event.data["slot"], "2026-12-03T03:00:00Z");
    }

    #[test]
    fn bad_schedules_name_the_field() {
        let config = ScheduleConfig { cron: "61 * * * *".into(), timezone: "UTC".into(), with: Value::Null };
        assert!(Schedule::compile("s", &config).err().unwrap_or_default().starts_with("schedules.s.cron"));
        let config = ScheduleConfig { cron: "0 3 * * *".into(), timezone: "Mars/Olympus".into(), with: Value::Null };
        assert!(Schedule::compile("s", &config).err().unwrap_or_default().contains("not an IANA time zone"));
    }
}
