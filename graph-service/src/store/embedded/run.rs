//! What the memory graph keeps of a run: what listings, filters, summaries and visibility read. The fact itself
//! stays in the fact table and is read when a caller asks for it.

use string_interner::backend::StringBackend;
use string_interner::symbol::SymbolU32;
use string_interner::{StringInterner, Symbol};
use tekton_graph_schema::{Outcome, RunFact, RunKind};

use crate::model::{EdgeKind, ProjectionConfig};
use crate::store::{RunFilter, RunPosition, Visibility, millis_in_range, trigger_event_id};

/// Interned strings: each distinct one stored once, named by a dense `u32`.
pub type Strings = StringInterner<StringBackend<SymbolU32>>;

pub fn index(symbol: SymbolU32) -> u32 {
    symbol.to_usize() as u32
}

pub fn symbol(index: u32) -> SymbolU32 {
    SymbolU32::try_from_usize(index as usize).unwrap_or_else(|| unreachable!("an index made by `index`"))
}

/// The string of a symbol of `strings` (empty for a symbol of another interner, which no caller makes).
pub fn text(strings: &Strings, symbol: SymbolU32) -> &str {
    strings.resolve(symbol).unwrap_or_default()
}

/// One run, about 80 bytes plus its edges.
#[derive(Debug)]
pub struct RunRecord {
    pub kind: RunKind,
    pub outcome: Outcome,
    pub namespace: SymbolU32,
    pub pipeline: Option<SymbolU32>,
    pub repository: Option<SymbolU32>,
    /// The System the projection assigns (its config is fixed for the store's life).
    pub system: Option<SymbolU32>,
    pub trigger_event_id: Option<SymbolU32>,
    pub sort_millis: i64,
    pub duration_seconds: Option<f64>,
    /// The edges this observation contributes, as (from, to, kind) node indexes.
    pub contributed: Box<[(u32, u32, EdgeKind)]>,
}

impl RunRecord {
    pub fn of(fact: &RunFact, config: &ProjectionConfig, strings: &mut Strings) -> Self {
        let repository = fact.supply_chain.source.as_ref().and_then(|s| s.repository.as_deref());
        RunRecord {
            kind: fact.kind,
            outcome: fact.status.outcome,
            namespace: strings.get_or_intern(&fact.namespace),
            pipeline: fact.pipeline.as_deref().map(|p| strings.get_or_intern(p)),
            repository: repository.map(|r| strings.get_or_intern(r)),
            system: config.system_of(fact).map(|s| strings.get_or_intern(s)),
            trigger_event_id: trigger_event_id(fact).map(|id| strings.get_or_intern(id)),
            sort_millis: RunPosition::sort_millis_of(fact),
            duration_seconds: fact.duration_seconds(),
            contributed: Box::new([]),
        }
    }

    /// The run's place in the listing, given its name.
    pub fn position(&self, strings: &Strings, name: &str) -> RunPosition {
        RunPosition {
            sort_millis: self.sort_millis,
            namespace: text(strings, self.namespace).to_string(),
            name: name.to_string(),
        }
    }

    /// Whether a PipelineRun in this record's namespace and System is visible.
    pub fn visible(&self, strings: &Strings, visible: &Visibility) -> bool {
        visible.allows(text(strings, self.namespace), self.system.map(|s| text(strings, s)))
    }

    /// The whole filter, System and visibility included; the time range against the record's sort time.
    pub fn matches(&self, strings: &Strings, filter: &RunFilter) -> bool {
        let is = |wanted: &Option<String>, have: Option<SymbolU32>| {
            wanted.as_deref().is_none_or(|w| have.is_some_and(|h| text(strings, h) == w))
        };
        is(&filter.namespace, Some(self.namespace))
            && is(&filter.pipeline, self.pipeline)
            && filter.outcome.is_none_or(|o| o == self.outcome)
            && is(&filter.repository, self.repository)
            && is(&filter.trigger_event_id, self.trigger_event_id)
            && is(&filter.system, self.system)
            && millis_in_range(self.sort_millis, filter)
            && filter.visible.as_ref().is_none_or(|v| self.visible(strings, v))
    }
}
