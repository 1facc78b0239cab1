//! Batched reads for GraphQL resolvers: no N+1.
//!
//! Objects resolved together — the runs of one list, the images of one list — share a batch. The first resolver
//! that needs the links, commits, images or scans of one member reads them for every member at once (a few store
//! calls, see [`crate::view`]); its siblings wait for that read and pick their part. This is deterministic: unlike a
//! timing-based DataLoader, which on a multi-threaded runtime may fire before every sibling has asked, a batch is
//! exactly the list it came from. Lookups of single runs by key go through [`FactLoader`].

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_graphql::Result;
use async_graphql::dataloader::Loader;
use tekton_graph_schema::{RunFact, RunKey};
use tokio::sync::OnceCell;

use crate::model::NodeId;
use crate::store::{GraphStore, Neighbour, StoreError};
use crate::view::{self, CommitInfo, ImageInfo, RunLinks, ScanInfo};

/// Batches run lookups of one GraphQL request level into one store call.
pub struct FactLoader {
    pub(super) store: Arc<dyn GraphStore>,
}

impl Loader<RunKey> for FactLoader {
    type Value = Arc<RunFact>;
    type Error = Arc<StoreError>;

    async fn load(&self, keys: &[RunKey]) -> Result<HashMap<RunKey, Self::Value>, Self::Error> {
        let facts = self.store.facts(keys).await.map_err(Arc::new)?;
        Ok(keys.iter().cloned().zip(facts).filter_map(|(k, f)| Some((k, Arc::new(f?)))).collect())
    }
}

/// Runs resolved together.
#[derive(Default)]
pub struct RunBatch {
    facts: Vec<Arc<RunFact>>,
    links: OnceCell<HashMap<RunKey, RunLinks>>,
    commits: OnceCell<HashMap<NodeId, CommitInfo>>,
    images: OnceCell<(HashMap<String, ImageInfo>, Arc<ImageBatch>)>,
    scans: OnceCell<HashMap<NodeId, ScanInfo>>,
    previous: OnceCell<Neighbours>,
    next: OnceCell<Neighbours>,
}

/// The previous (or next) run of each member of a batch, by member key; the neighbours form a batch of their own.
type Neighbours = (HashMap<RunKey, Arc<RunFact>>, Arc<RunBatch>);

impl RunBatch {
    pub fn new(facts: Vec<Arc<RunFact>>) -> Arc<Self> {
        Arc::new(RunBatch { facts, ..Default::default() })
    }

    pub fn facts(&self) -> &[Arc<RunFact>] {
        &self.facts
    }

    /// The links of one member (read for all members on first use).
    pub async fn links(&self, store: &dyn GraphStore, key: &RunKey) -> Result<RunLinks> {
        let all = self.links.get_or_try_init(|| view::links(store, &self.facts)).await?;
        Ok(all.get(key).cloned().unwrap_or_default())
    }

    /// The previous or next run of one member's pipeline (read for all members on first use, in two store calls),
    /// with the batch it shares with the other members' neighbours.
    pub async fn neighbour(
        &self,
        store: &dyn GraphStore,
        key: &RunKey,
        which: Neighbour,
    ) -> Result<Option<(Arc<RunFact>, Arc<RunBatch>)>> {
        let cell = match which {
            Neighbour::Previous => &self.previous,
            Neighbour::Next => &self.next,
        };
        let (by_member, batch) = cell
            .get_or_try_init(|| async {
                let keys = view::neighbours(store, &self.facts, which).await?;
                let wanted: Vec<RunKey> = keys.values().cloned().collect::<BTreeSet<_>>().into_iter().collect();
                let facts: HashMap<RunKey, Arc<RunFact>> =
                    view::load_facts(store, &wanted).await?.into_iter().map(|f| (f.key(), f)).collect();
                let by_member = keys.into_iter().filter_map(|(m, n)| Some((m, facts.get(&n)?.clone()))).collect();
                Ok::<_, StoreError>((by_member, RunBatch::new(facts.into_values().collect())))
            })
            .await?;
        Ok(by_member.get(key).map(|fact| (fact.clone(), batch.clone())))
    }

    /// The commit one member was built from.
    pub async fn commit(&self, store: &dyn GraphStore, key: &RunKey) -> Result<Option<CommitInfo>> {
        let Some(node) = self.links(store, key).await?.commit else { return Ok(None) };
        let all = self
            .commits
            .get_or_try_init(|| async {
                let links =
                    self.links.get().map(|l| l.values().filter_map(|l| l.commit.clone()).collect::<BTreeSet<_>>());
                view::commits(store, &links.unwrap_or_default().into_iter().collect::<Vec<_>>()).await
            })
            .await?;
        Ok(all.get(&node).cloned())
    }

    /// The images one member produced, sharing one image batch across all members.
    pub async fn images(&self, store: &dyn GraphStore, key: &RunKey) -> Result<(Vec<ImageInfo>, Arc<ImageBatch>)> {
        let digests = self.links(store, key).await?.images;
        let (all, batch) = self
            .images
            .get_or_try_init(|| async {
                let every: BTreeSet<String> = self
                    .links
                    .get()
                    .into_iter()
                    .flat_map(|l| l.values())
                    .flat_map(|l| l.images.iter().cloned())
                    .collect();
                let infos = view::images(store, &every.into_iter().collect::<Vec<_>>()).await?;
                let batch = ImageBatch::new(infos.values().cloned().collect());
                Ok::<_, StoreError>((infos, batch))
            })
            .await?;
        Ok((digests.iter().filter_map(|d| all.get(d).cloned()).collect(), batch.clone()))
    }

    /// The scans one member reported.
    pub async fn scans(&self, store: &dyn GraphStore, key: &RunKey) -> Result<Vec<ScanInfo>> {
        let ids = self.links(store, key).await?.scans;
        let all = self
            .scans
            .get_or_try_init(|| async {
                let every: BTreeSet<NodeId> = self
                    .links
                    .get()
                    .into_iter()
                    .flat_map(|l| l.values())
                    .flat_map(|l| l.scans.iter().cloned())
                    .collect();
                let scans = view::scans_by_id(store, &every.into_iter().collect::<Vec<_>>()).await?;
                Ok::<_, StoreError>(scans.into_iter().map(|s| (s.id.clone(), s)).collect())
            })
            .await?;
        Ok(ids.iter().filter_map(|id| all.get(id).cloned()).collect())
    }
}

/// Images resolved together.
#[derive(Default)]
pub struct ImageBatch {
    infos: Vec<ImageInfo>,
    producers: OnceCell<Arc<RunBatch>>,
    scans: OnceCell<HashMap<NodeId, ScanInfo>>,
}

impl ImageBatch {
    pub fn new(infos: Vec<ImageInfo>) -> Arc<Self> {
        Arc::new(ImageBatch { infos, ..Default::default() })
    }

    /// Every producer of every member, as one run batch (their commits are read together).
    async fn producers(&self) -> &Arc<RunBatch> {
        self.producers
            .get_or_init(|| async {
                let mut seen = BTreeSet::new();
                let facts = self.infos.iter().flat_map(|i| i.producers.iter()).filter(|f| seen.insert(f.key()));
                RunBatch::new(facts.cloned().collect())
            })
            .await
    }

    /// The commit an image was built from: the first of its producers (oldest first) that has one.
    pub async fn commit(&self, store: &dyn GraphStore, image: &ImageInfo) -> Result<Option<CommitInfo>> {
        let producers = self.producers().await;
        for producer in &image.producers {
            if let Some(commit) = producers.commit(store, &producer.key()).await? {
                return Ok(Some(commit));
            }
        }
        Ok(None)
    }

    /// The scans of one member (read for all members on first use).
    pub async fn scans(&self, store: &dyn GraphStore, image: &ImageInfo) -> Result<Vec<ScanInfo>> {
        let all = self
            .scans
            .get_or_try_init(|| async {
                let every: BTreeSet<NodeId> = self.infos.iter().flat_map(|i| i.scans.iter().cloned()).collect();
                let scans = view::scans_by_id(store, &every.into_iter().collect::<Vec<_>>()).await?;
                Ok::<_, StoreError>(scans.into_iter().map(|s| (s.id.clone(), s)).collect())
            })
            .await?;
        Ok(image.scans.iter().filter_map(|id| all.get(id).cloned()).collect())
    }
}
