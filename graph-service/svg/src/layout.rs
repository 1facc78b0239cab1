//! A layered ("Sugiyama-style") graph layout, left to right, for the task DAG and the lineage graph.
//!
//! The steps are the classic ones, each kept simple because graphs here are small (≤ [`crate::MAX_NODES`]):
//!
//! 1. **Layers** ([`assign_layers`]): each node's column is its longest path from a source. Edges that would
//!    close a cycle are ignored for this (found by a depth-first search in id order, so which edge of a cycle
//!    gives way is deterministic). Callers can instead fix columns ([`Layering::Fixed`]) or require groups to
//!    follow one another ([`Layering::Banded`], used for Tekton's `finally` tasks).
//! 2. **Virtual nodes**: an edge spanning several columns gets a point in each column it crosses, so the
//!    ordering step sees it and the drawn curve bends around nodes instead of through them.
//! 3. **Order within a column**: alternating down/up barycenter sweeps; the order with the fewest crossings
//!    seen wins. Ties break by node id, never by input order or hashing, so output is reproducible.
//! 4. **Vertical positions**: each node is pulled towards the mean of its neighbours while keeping the column
//!    order and spacing; that is an isotonic regression, solved exactly by pool-adjacent-violators.

/// Sizes, in SVG user units (px at 100% zoom).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Config {
    pub node_width: f64,
    pub node_height: f64,
    /// Horizontal space between columns; edges curve through it.
    pub column_gap: f64,
    /// Vertical space between nodes of a column.
    pub row_gap: f64,
    /// Space around the whole drawing.
    pub margin: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config { node_width: 170.0, node_height: 44.0, column_gap: 72.0, row_gap: 22.0, margin: 24.0 }
    }
}

/// How columns are chosen.
#[derive(Clone, Copy, Debug)]
pub enum Layering<'a> {
    /// Longest path from the sources.
    LongestPath,
    /// Longest path within each band; every column of band `b` comes after every column of lower bands.
    /// Edges from a higher band to a lower one are ignored for layering. Missing entries mean band 0.
    Banded(&'a [usize]),
    /// The caller's columns (compacted, so unused numbers leave no gap). Missing entries mean column 0.
    Fixed(&'a [usize]),
}

/// Where one edge goes between its end nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct Route {
    /// Points in the columns the edge crosses, from source to target (empty for adjacent columns).
    pub waypoints: Vec<(f64, f64)>,
    /// The edge did not constrain layering: a self-loop, an invalid index, an edge closing a cycle or going
    /// back across bands. Such an edge may point right to left.
    pub ignored: bool,
}

/// The result: positions are node centres.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    pub centers: Vec<(f64, f64)>,
    /// Column of each node, 0-based from the left.
    pub layer: Vec<usize>,
    /// Position of each node within its column, 0 at the top, counting real nodes only.
    pub order: Vec<usize>,
    /// Number of columns.
    pub layers: usize,
    /// One per input edge, same index.
    pub routes: Vec<Route>,
    /// Size of the drawing including margins.
    pub width: f64,
    pub height: f64,
}

/// Virtual nodes allowed in total; past it, further long edges are drawn straight instead of routed, which
/// bounds the work for pathological inputs (long chains with many skip edges).
pub const MAX_VIRTUAL: usize = 4000;
/// Barycenter sweeps (alternating down and up).
const SWEEPS: usize = 8;
/// Vertical refinement passes (alternating down and up).
const Y_PASSES: usize = 8;

/// Each node's rank in id order (ties by index), the tie-break used everywhere.
fn id_rank(ids: &[String]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..ids.len()).collect();
    idx.sort_by(|&a, &b| ids[a].cmp(&ids[b]).then(a.cmp(&b)));
    let mut rank = vec![0; ids.len()];
    for (r, &i) in idx.iter().enumerate() {
        rank[i] = r;
    }
    rank
}

/// Maps arbitrary numbers to 0..k keeping their order.
fn compact(values: &[usize]) -> Vec<usize> {
    let mut distinct = values.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    values.iter().map(|v| distinct.binary_search(v).unwrap_or(0)).collect()
}

/// Step 1: the column of every node, and which edges were ignored to get there.
pub fn assign_layers(ids: &[String], edges: &[(usize, usize)], layering: Layering) -> (Vec<usize>, Vec<bool>) {
    let n = ids.len();
    let mut ignored: Vec<bool> = edges.iter().map(|&(u, v)| u >= n || v >= n || u == v).collect();
    let band: Vec<usize> = match layering {
        Layering::Fixed(f) => {
            let raw: Vec<usize> = (0..n).map(|i| f.get(i).copied().unwrap_or(0)).collect();
            return (compact(&raw), ignored);
        }
        Layering::LongestPath => vec![0; n],
        Layering::Banded(b) => compact(&(0..n).map(|i| b.get(i).copied().unwrap_or(0)).collect::<Vec<_>>()),
    };
    let rank = id_rank(ids);

    // Edges within a band constrain the order; forward edges across bands are satisfied by the band offsets.
    let mut out: Vec<Vec<(usize, usize)>> = vec![Vec::new(); n];
    for (k, &(u, v)) in edges.iter().enumerate() {
        if ignored[k] {
            continue;
        }
        if band[u] > band[v] {
            ignored[k] = true;
        } else if band[u] == band[v] {
            out[u].push((v, k));
        }
    }
    for list in &mut out {
        list.sort_by_key(|&(v, k)| (rank[v], k));
    }

    // Cycle breaking: an edge to a node still on the DFS stack closes a cycle.
    let mut roots: Vec<usize> = (0..n).collect();
    roots.sort_by_key(|&i| rank[i]);
    let mut state = vec![0u8; n]; // 0 new, 1 on stack, 2 done
    for &root in &roots {
        if state[root] != 0 {
            continue;
        }
        state[root] = 1;
        let mut stack = vec![(root, 0usize)];
        while let Some(top) = stack.last_mut() {
            let u = top.0;
            if let Some(&(v, k)) = out[u].get(top.1) {
                top.1 += 1;
                match state[v] {
                    0 => {
                        state[v] = 1;
                        stack.push((v, 0));
                    }
                    1 => ignored[k] = true,
                    _ => {}
                }
            } else {
                state[u] = 2;
                stack.pop();
            }
        }
    }

    // Longest path over the remaining (acyclic) intra-band edges, in topological order.
    let mut indeg = vec![0usize; n];
    for list in &out {
        for &(v, k) in list {
            if !ignored[k] {
                indeg[v] += 1;
            }
        }
    }
    let mut local = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| indeg[i] == 0).collect();
    while let Some(u) = ready.pop() {
        for &(v, k) in &out[u] {
            if ignored[k] {
                continue;
            }
            local[v] = local[v].max(local[u] + 1);
            indeg[v] -= 1;
            if indeg[v] == 0 {
                ready.push(v);
            }
        }
    }

    let bands = band.iter().max().map_or(0, |b| b + 1);
    let mut depth = vec![0usize; bands];
    for i in 0..n {
        depth[band[i]] = depth[band[i]].max(local[i] + 1);
    }
    let mut offset = vec![0usize; bands];
    for b in 1..bands {
        offset[b] = offset[b - 1] + depth[b - 1];
    }
    let layer = (0..n).map(|i| offset[band[i]] + local[i]).collect();
    (layer, ignored)
}

/// Crossings between adjacent columns: sort segments by upper end, count inversions of the lower end.
fn crossings(seg_by_layer: &[Vec<(usize, usize)>], pos: &[usize], widths: &[usize]) -> usize {
    let mut total = 0;
    for (l, segs) in seg_by_layer.iter().enumerate() {
        let Some(&width) = widths.get(l + 1) else { continue };
        let mut pairs: Vec<(usize, usize)> = segs.iter().map(|&(a, b)| (pos[a], pos[b])).collect();
        pairs.sort_unstable();
        // Fenwick tree over lower positions seen so far: crossings are the earlier segments ending lower.
        let mut tree = vec![0usize; width + 1];
        for (seen, &(_, b)) in pairs.iter().enumerate() {
            let mut i = b + 1;
            let mut not_greater = 0;
            while i > 0 {
                not_greater += tree[i];
                i &= i - 1;
            }
            total += seen - not_greater;
            let mut i = b + 1;
            while i <= width {
                tree[i] += 1;
                i += i & i.wrapping_neg();
            }
        }
    }
    total
}

/// Weighted least-squares fit of `desired` subject to `y[i+1] - y[i] >= sep[i]` (pool adjacent violators on
/// the shifted problem `z[i] = y[i] - S[i]`, which only has to be non-decreasing).
fn project(desired: &[f64], weight: &[f64], sep: &[f64]) -> Vec<f64> {
    let m = desired.len();
    let mut shift = vec![0.0; m];
    for i in 1..m {
        shift[i] = shift[i - 1] + sep[i - 1];
    }
    // Blocks of (total weight, weighted sum, length).
    let mut blocks: Vec<(f64, f64, usize)> = Vec::with_capacity(m);
    for i in 0..m {
        let w = weight[i].max(1e-9);
        blocks.push((w, w * (desired[i] - shift[i]), 1));
        while blocks.len() > 1 {
            let (w2, s2, n2) = blocks[blocks.len() - 1];
            let (w1, s1, n1) = blocks[blocks.len() - 2];
            if s1 / w1 <= s2 / w2 {
                break;
            }
            blocks.pop();
            let last = blocks.len() - 1;
            blocks[last] = (w1 + w2, s1 + s2, n1 + n2);
        }
    }
    let mut y = Vec::with_capacity(m);
    for (w, s, len) in blocks {
        for _ in 0..len {
            let i = y.len();
            y.push(s / w + shift[i]);
        }
    }
    y
}

/// Lays out `ids.len()` nodes and the edges between them (indices into `ids`; invalid ones are ignored).
pub fn layered(ids: &[String], edges: &[(usize, usize)], layering: Layering, cfg: &Config) -> Layout {
    let n = ids.len();
    let (layer, ignored) = assign_layers(ids, edges, layering);
    let layers = layer.iter().max().map_or(0, |l| l + 1);
    let rank = id_rank(ids);

    // Step 2: virtual nodes (indices n..) and segments between adjacent columns, stored as (left, right).
    let mut vlayer = layer.clone();
    let mut segs: Vec<(usize, usize)> = Vec::new();
    let mut chains: Vec<Vec<usize>> = vec![Vec::new(); edges.len()];
    for (k, &(u, v)) in edges.iter().enumerate() {
        if u >= n || v >= n || u == v || layer[u] == layer[v] {
            continue;
        }
        let (lu, lv) = (layer[u], layer[v]);
        let span = lu.abs_diff(lv);
        if span > 1 && vlayer.len() - n + span - 1 > MAX_VIRTUAL {
            continue;
        }
        let mut prev = u;
        for step in 1..span {
            let l = if lu < lv { lu + step } else { lu - step };
            let d = vlayer.len();
            vlayer.push(l);
            chains[k].push(d);
            segs.push(if lu < lv { (prev, d) } else { (d, prev) });
            prev = d;
        }
        segs.push(if lu < lv { (prev, v) } else { (v, prev) });
    }
    let total = vlayer.len();
    let key = |v: usize| if v < n { rank[v] } else { v };
    let is_real = |v: usize| v < n;

    let mut left_nb: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut right_nb: Vec<Vec<usize>> = vec![Vec::new(); total];
    let mut seg_by_layer: Vec<Vec<(usize, usize)>> = vec![Vec::new(); layers];
    for &(a, b) in &segs {
        right_nb[a].push(b);
        left_nb[b].push(a);
        seg_by_layer[vlayer[a]].push((a, b));
    }

    // Step 3: order within columns.
    let mut cols: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for v in 0..total {
        cols[vlayer[v]].push(v);
    }
    for col in &mut cols {
        col.sort_by_key(|&v| key(v));
    }
    let widths: Vec<usize> = cols.iter().map(Vec::len).collect();
    let mut pos = vec![0usize; total];
    let index = |cols: &[Vec<usize>], pos: &mut [usize]| {
        for col in cols {
            for (i, &v) in col.iter().enumerate() {
                pos[v] = i;
            }
        }
    };
    index(&cols, &mut pos);
    let mut best = cols.clone();
    let mut best_crossings = crossings(&seg_by_layer, &pos, &widths);
    for sweep in 0..SWEEPS {
        if best_crossings == 0 {
            break;
        }
        let down = sweep % 2 == 0;
        let order: Vec<usize> =
            if down { (1..layers).collect() } else { (0..layers.saturating_sub(1)).rev().collect() };
        for l in order {
            let nb = if down { &left_nb } else { &right_nb };
            let mut keyed: Vec<(f64, usize, usize)> = cols[l]
                .iter()
                .map(|&v| {
                    let bary = if nb[v].is_empty() {
                        pos[v] as f64
                    } else {
                        nb[v].iter().map(|&w| pos[w] as f64).sum::<f64>() / nb[v].len() as f64
                    };
                    (bary, key(v), v)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            cols[l] = keyed.into_iter().map(|(_, _, v)| v).collect();
            for (i, &v) in cols[l].iter().enumerate() {
                pos[v] = i;
            }
        }
        let c = crossings(&seg_by_layer, &pos, &widths);
        if c < best_crossings {
            best_crossings = c;
            best = cols.clone();
        }
    }
    let cols = best;
    index(&cols, &mut pos);

    // Step 4: vertical positions. Virtual nodes are points that want to lie straight (weight 2).
    let half = |v: usize| if is_real(v) { cfg.node_height / 2.0 } else { 0.0 };
    let gap = |a: usize, b: usize| if is_real(a) && is_real(b) { cfg.row_gap } else { cfg.row_gap / 2.0 };
    let seps: Vec<Vec<f64>> =
        cols.iter().map(|col| col.windows(2).map(|w| half(w[0]) + half(w[1]) + gap(w[0], w[1])).collect()).collect();
    let mut y = vec![0.0f64; total];
    for (col, sep) in cols.iter().zip(&seps) {
        let mut acc = 0.0;
        for (i, &v) in col.iter().enumerate() {
            if i > 0 {
                acc += sep[i - 1];
            }
            y[v] = acc;
        }
        let mid = acc / 2.0;
        for &v in col {
            y[v] -= mid;
        }
    }
    for pass in 0..Y_PASSES {
        let down = pass % 2 == 0;
        let order: Vec<usize> =
            if down { (1..layers).collect() } else { (0..layers.saturating_sub(1)).rev().collect() };
        let nb = if down { &left_nb } else { &right_nb };
        for l in order {
            let col = &cols[l];
            let desired: Vec<f64> = col
                .iter()
                .map(|&v| {
                    if nb[v].is_empty() { y[v] } else { nb[v].iter().map(|&w| y[w]).sum::<f64>() / nb[v].len() as f64 }
                })
                .collect();
            let weight: Vec<f64> = col.iter().map(|&v| if is_real(v) { 1.0 } else { 2.0 }).collect();
            for (&v, yv) in col.iter().zip(project(&desired, &weight, &seps[l])) {
                y[v] = yv;
            }
        }
    }

    // Normalise into the margin box.
    let top = (0..total).map(|v| y[v] - half(v)).fold(f64::INFINITY, f64::min);
    let bottom = (0..total).map(|v| y[v] + half(v)).fold(f64::NEG_INFINITY, f64::max);
    let (shift, content_h) = if total == 0 { (0.0, 0.0) } else { (cfg.margin - top, bottom - top) };
    let x_of = |l: usize| cfg.margin + l as f64 * (cfg.node_width + cfg.column_gap) + cfg.node_width / 2.0;
    let point = |v: usize| (x_of(vlayer[v]), y[v] + shift);

    let mut order = vec![0usize; n];
    for col in &cols {
        for (i, &v) in col.iter().filter(|&&v| is_real(v)).enumerate() {
            order[v] = i;
        }
    }
    let routes = chains
        .iter()
        .zip(&ignored)
        .map(|(chain, &ign)| Route { waypoints: chain.iter().map(|&d| point(d)).collect(), ignored: ign })
        .collect();
    let content_w =
        if layers == 0 { 0.0 } else { layers as f64 * cfg.node_width + (layers - 1) as f64 * cfg.column_gap };
    Layout {
        centers: (0..n).map(point).collect(),
        layer,
        order,
        layers,
        routes,
        width: content_w + 2.0 * cfg.margin,
        height: content_h + 2.0 * cfg.margin,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A tiny deterministic generator so tests need no dependency.
    pub(crate) struct Rng(pub u64);
    impl Rng {
        pub(crate) fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        pub(crate) fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    /// A random DAG: edges only from lower to higher index, ids shuffled so id order differs from topology.
    pub(crate) fn random_dag(n: usize, extra_edges: usize, seed: u64) -> (Vec<String>, Vec<(usize, usize)>) {
        let mut rng = Rng(seed);
        let ids = (0..n).map(|i| format!("t{:04}", (i * 7919 + 13) % 10007)).collect();
        let mut edges = Vec::new();
        for v in 1..n {
            if rng.below(5) != 0 {
                edges.push((rng.below(v), v));
            }
        }
        for _ in 0..extra_edges {
            let a = rng.below(n);
            let b = rng.below(n);
            if a != b {
                edges.push((a.min(b), a.max(b)));
            }
        }
        (ids, edges)
    }

    fn ids(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    pub(crate) fn assert_no_overlap(l: &Layout, cfg: &Config) {
        for a in 0..l.centers.len() {
            for b in a + 1..l.centers.len() {
                let (ax, ay) = l.centers[a];
                let (bx, by) = l.centers[b];
                let apart_x = (ax - bx).abs() >= cfg.node_width + cfg.column_gap - 1e-6;
                let apart_y = (ay - by).abs() >= cfg.node_height + cfg.row_gap - 1e-6;
                assert!(apart_x || apart_y, "nodes {a} and {b} overlap: {:?} {:?}", l.centers[a], l.centers[b]);
            }
        }
        for &(x, y) in &l.centers {
            assert!(x - cfg.node_width / 2.0 >= cfg.margin - 1e-6 && x + cfg.node_width / 2.0 <= l.width + 1e-6);
            assert!(y - cfg.node_height / 2.0 >= cfg.margin - 1e-6 && y + cfg.node_height / 2.0 <= l.height + 1e-6);
        }
    }

    fn assert_kept_edges_go_right(l: &Layout, edges: &[(usize, usize)]) {
        for (k, &(u, v)) in edges.iter().enumerate() {
            if !l.routes[k].ignored {
                assert!(l.layer[u] < l.layer[v], "edge {u}->{v} not left to right");
                assert!(l.centers[u].0 < l.centers[v].0);
            }
        }
    }

    #[test]
    fn empty_graph() {
        let cfg = Config::default();
        let l = layered(&[], &[], Layering::LongestPath, &cfg);
        assert_eq!(l.layers, 0);
        assert!(l.centers.is_empty());
        assert_eq!((l.width, l.height), (2.0 * cfg.margin, 2.0 * cfg.margin));
    }

    #[test]
    fn chain_and_diamond_layers_by_longest_path() {
        let cfg = Config::default();
        // a -> b -> d, a -> c -> d, a -> d (the long edge must not pull d left).
        let edges = [(0, 1), (1, 3), (0, 2), (2, 3), (0, 3)];
        let l = layered(&ids(&["a", "b", "c", "d"]), &edges, Layering::LongestPath, &cfg);
        assert_eq!(l.layer, [0, 1, 1, 2]);
        assert_eq!(l.layers, 3);
        assert_eq!(l.routes[4].waypoints.len(), 1, "a->d crosses one column");
        assert!(l.routes.iter().all(|r| !r.ignored));
        assert_no_overlap(&l, &cfg);
        assert_kept_edges_go_right(&l, &edges);
    }

    #[test]
    fn cycles_break_deterministically() {
        let cfg = Config::default();
        // a -> b -> c -> a plus a self-loop on b and an out-of-range edge.
        let edges = [(0, 1), (1, 2), (2, 0), (1, 1), (0, 9), (9, 0)];
        let l = layered(&ids(&["a", "b", "c"]), &edges, Layering::LongestPath, &cfg);
        assert_eq!(l.routes.iter().map(|r| r.ignored).collect::<Vec<_>>(), [false, false, true, true, true, true]);
        assert_eq!(l.layer, [0, 1, 2]);
        assert_kept_edges_go_right(&l, &edges);
        // The same cycle given in another order breaks at the same place: the search starts at the smallest id.
        let edges2 = [(2, 0), (1, 2), (0, 1)];
        let l2 = layered(&ids(&["a", "b", "c"]), &edges2, Layering::LongestPath, &cfg);
        assert_eq!(l2.layer, [0, 1, 2]);
        assert!(l2.routes[0].ignored);
    }

    #[test]
    fn finally_band_comes_after_every_regular_node() {
        let cfg = Config::default();
        // Regular: a -> b -> c; x standalone. Finally: f1 (no deps), f2 after f1, and a bogus f1 -> a edge.
        let names = ids(&["a", "b", "c", "x", "f1", "f2"]);
        let bands = [0, 0, 0, 0, 1, 1];
        let edges = [(0, 1), (1, 2), (4, 5), (4, 0), (2, 4)];
        let l = layered(&names, &edges, Layering::Banded(&bands), &cfg);
        let last_regular = (0..4).map(|i| l.layer[i]).max().unwrap_or(0);
        assert!((4..6).all(|i| l.layer[i] > last_regular));
        assert_eq!(l.layer[4], 3);
        assert_eq!(l.layer[5], 4);
        assert!(l.routes[3].ignored, "finally -> regular cannot constrain");
        assert_kept_edges_go_right(&l, &edges);
        assert_no_overlap(&l, &cfg);
        // Only finally tasks: no empty leading columns.
        let l = layered(&ids(&["f"]), &[], Layering::Banded(&[1]), &cfg);
        assert_eq!(l.layer, [0]);
    }

    #[test]
    fn fixed_layers_are_compacted() {
        let cfg = Config::default();
        let l = layered(&ids(&["r", "c", "i", "z"]), &[(0, 1), (2, 1), (1, 1)], Layering::Fixed(&[1, 4, 7]), &cfg);
        assert_eq!(l.layer, [1, 2, 3, 0]);
        assert_eq!(l.layers, 4);
        assert_no_overlap(&l, &cfg);
    }

    #[test]
    fn barycenter_removes_avoidable_crossings() {
        let cfg = Config::default();
        // a, b in column 0 (id order); a -> d, b -> c. Id order in column 1 (c, d) would cross.
        let l = layered(&ids(&["a", "b", "c", "d"]), &[(0, 3), (1, 2)], Layering::LongestPath, &cfg);
        assert_eq!(l.order[0], 0);
        assert_eq!(l.order[3], 0, "d moves up next to a");
        assert!(l.centers[3].1 < l.centers[2].1);
    }

    #[test]
    fn chains_are_straight() {
        let cfg = Config::default();
        let l = layered(&ids(&["a", "b", "c"]), &[(0, 1), (1, 2)], Layering::LongestPath, &cfg);
        assert!((l.centers[0].1 - l.centers[2].1).abs() < 1e-6);
    }

    #[test]
    fn random_dags_have_no_overlaps_and_are_deterministic() {
        let cfg = Config::default();
        for seed in 1..6u64 {
            let (names, edges) = random_dag(200, 120, seed);
            let l = layered(&names, &edges, Layering::LongestPath, &cfg);
            assert!(l.routes.iter().all(|r| !r.ignored), "a DAG needs no cycle breaking");
            assert_no_overlap(&l, &cfg);
            assert_kept_edges_go_right(&l, &edges);
            assert_eq!(l, layered(&names, &edges, Layering::LongestPath, &cfg));
        }
    }

    #[test]
    fn random_graphs_with_cycles_keep_properties() {
        let cfg = Config::default();
        let mut rng = Rng(42);
        for round in 0..20 {
            let n = 1 + rng.below(60);
            let names: Vec<String> = (0..n).map(|i| format!("n{}", (i * 31 + round) % 97)).collect();
            let edges: Vec<(usize, usize)> = (0..rng.below(150)).map(|_| (rng.below(n + 1), rng.below(n))).collect();
            let bands: Vec<usize> = (0..n).map(|_| rng.below(3)).collect();
            for layering in [Layering::LongestPath, Layering::Banded(&bands)] {
                let l = layered(&names, &edges, layering, &cfg);
                assert_no_overlap(&l, &cfg);
                assert_kept_edges_go_right(&l, &edges);
                if let Layering::Banded(b) = layering {
                    for i in 0..n {
                        for j in 0..n {
                            if b[i] < b[j] {
                                assert!(l.layer[i] < l.layer[j]);
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn duplicate_ids_do_not_panic() {
        let cfg = Config::default();
        let l = layered(&ids(&["a", "a", "a"]), &[(0, 1), (1, 2), (2, 0)], Layering::LongestPath, &cfg);
        assert_no_overlap(&l, &cfg);
    }

    #[test]
    fn projection_respects_separation() {
        let y = project(&[0.0, 0.0, 0.0], &[1.0, 1.0, 1.0], &[10.0, 10.0]);
        assert_eq!(y, [-10.0, 0.0, 10.0]);
        let y = project(&[0.0, 50.0], &[1.0, 1.0], &[10.0]);
        assert_eq!(y, [0.0, 50.0]);
    }
}
