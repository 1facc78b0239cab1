//! Which observation of a run a store keeps, the one rule every engine applies inside its atomic write.
//!
//! A fact from a Tekton object is a complete observation: the newest one wins
//! ([`RunFact::compare_observations`]). A CDEvent tells part of the story, so a CDEvent observation is *joined*
//! with the CDEvent observation already in hand — earlier in the batch, or stored
//! ([`merge_observations`], commutative, associative and idempotent). Doing the join in the store, under the same
//! lock as the write, is what makes it safe with several graph-service replicas: two replicas that take one run's
//! `started` and `finished` at the same moment serialize on the run and the second joins the first's result, where
//! a merge before the write would let one overwrite the other.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use tekton_graph_schema::merge::merge_observations;
use tekton_graph_schema::{ObservedFrom, RunFact, RunKey};

/// The observation a batch leaves of each run before the stored ones are looked at, in run order: CDEvent
/// observations joined, any other fact kept when newer than what the batch had so far.
pub fn of_batch(facts: &[RunFact]) -> BTreeMap<RunKey, Cow<'_, RunFact>> {
    let mut best: BTreeMap<RunKey, Cow<'_, RunFact>> = BTreeMap::new();
    for fact in facts {
        match best.entry(fact.key()) {
            Entry::Vacant(slot) => {
                slot.insert(Cow::Borrowed(fact));
            }
            Entry::Occupied(mut slot) => {
                if let Some(next) = observed_after(slot.get(), Cow::Borrowed(fact)) {
                    slot.insert(next);
                }
            }
        }
    }
    best
}

/// What `fact`, observed after `current`, leaves to store: their join when both are CDEvent observations, else
/// `fact` if it is newer. `None` when `current` stands (an equal or older observation, or a join that adds
/// nothing).
pub fn observed_after<'a>(current: &RunFact, fact: Cow<'a, RunFact>) -> Option<Cow<'a, RunFact>> {
    let fact = joined(current, fact);
    fact.compare_observations(current).is_gt().then_some(fact)
}

/// `fact` joined with `current` when both are CDEvent observations, else `fact` as it is.
pub fn joined<'a>(current: &RunFact, fact: Cow<'a, RunFact>) -> Cow<'a, RunFact> {
    if is_cdevent(current) && is_cdevent(&fact) { Cow::Owned(merge_observations(current, &fact)) } else { fact }
}

pub fn is_cdevent(fact: &RunFact) -> bool {
    fact.observed_from == ObservedFrom::CdEvent
}

#[cfg(test)]
mod tests {
    use super::*;
    use tekton_graph_schema::Outcome;

    fn run(name: &str) -> RunFact {
        let fact = serde_json::json!({
            "schemaVersion": tekton_graph_schema::FACT_SCHEMA_VERSION, "kind": "PipelineRun",
            "namespace": "ns", "name": name, "status": tekton_graph_schema::RunStatus::default()
        });
        serde_json::from_value(fact).expect("a fact")
    }

    fn cdevent(name: &str, outcome: Outcome, event: &str) -> RunFact {
        let mut fact = run(name);
        fact.observed_from = ObservedFrom::CdEvent;
        fact.status.outcome = outcome;
        fact.annotations.insert(tekton_graph_schema::merge::EVENT_IDS_ANNOTATION.into(), event.into());
        fact
    }

    #[test]
    fn cdevents_of_one_run_are_joined_and_a_repeat_adds_nothing() {
        let started = cdevent("a", Outcome::Running, "started");
        let finished = cdevent("a", Outcome::Failed, "finished");
        let facts = [finished.clone(), started.clone(), finished.clone()];
        let batch = of_batch(&facts);
        let joined = merge_observations(&started, &finished);
        assert_eq!(batch.len(), 1);
        assert_eq!(batch.values().next().map(|f| f.as_ref()), Some(&joined));
        assert!(observed_after(&joined, Cow::Borrowed(&started)).is_none(), "already joined");
        assert_eq!(observed_after(&started, Cow::Borrowed(&finished)).as_deref(), Some(&joined));
    }

    #[test]
    fn a_tekton_fact_is_not_joined_the_newer_one_stays() {
        let mut old = run("b");
        old.resource_version = Some("5".into());
        let mut new = old.clone();
        new.resource_version = Some("9".into());
        assert_eq!(observed_after(&old, Cow::Borrowed(&new)).as_deref(), Some(&new));
        assert!(observed_after(&new, Cow::Borrowed(&old)).is_none());
        let facts = [new.clone(), old];
        let batch = of_batch(&facts);
        assert_eq!(batch.values().next().map(|f| f.as_ref()), Some(&new));
    }
}
