//! Lookups in gguf-py's name table ([`super::gguf_table`]): Hugging Face name -> GGUF name and
//! back, and the tensor kind of a name.
//!
//! gguf-py's `TensorNameMap(arch, n_blocks)` instantiates every pattern for every block and keeps
//! a dict in which a later entry wins. Here patterns stay templates: a name is looked up as is and
//! with each of its digit runs replaced by `{bid}`; among the hits the entry gguf-py would have
//! inserted last wins, so the answers are gguf-py's for any block number.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::gguf_table::{ARCHS, ARCH_OVERRIDES, KINDS, PATTERN_BLOCK_TYPES};
use super::{BlockType, Stack};

/// One `MODEL_TENSOR` kind of gguf-py.
#[derive(Debug, PartialEq, Eq)]
pub struct Kind {
    /// The `MODEL_TENSOR` member name (`ATTN_Q`).
    pub name: &'static str,
    /// The GGUF name template (`blk.{bid}.attn_q`).
    pub gguf: &'static str,
    /// The block type weightlens assigns to the kind.
    pub block_type: BlockType,
    /// The stack (tower) the kind belongs to.
    pub stack: Stack,
    /// Whether `{bid}` numbers the blocks of a stack (else it indexes a sub-module, `mm.{bid}`).
    pub per_layer: bool,
    /// The Hugging Face name patterns (`model.layers.{bid}.self_attn.q_proj`).
    pub hf: &'static [&'static str],
}

/// A gguf-py architecture and its kinds.
#[derive(Debug)]
pub struct Arch {
    /// `general.architecture` (`llama`, `gemma3`).
    pub name: &'static str,
    /// Indices into `KINDS`.
    pub kinds: &'static [u16],
}

/// An architecture's own patterns for a kind (gguf-py `arch_block_mappings_cfg`).
#[derive(Debug)]
pub struct PatternOverride {
    /// The architecture.
    pub arch: &'static str,
    /// Index into `KINDS`.
    pub kind: u16,
    /// The patterns replacing the kind's.
    pub hf: &'static [&'static str],
}

/// A name matched against the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The kind.
    pub kind: &'static Kind,
    /// The number that filled `{bid}`, if the pattern has one.
    pub bid: Option<u32>,
    /// The block type of the matched pattern (a kind's own, or a pattern's: `gate_up_proj`).
    pub block_type: BlockType,
}

/// Template -> (insertion order, kind index) of one architecture, or of all of them.
type Index = HashMap<&'static str, (usize, u16)>;

fn kind(i: u16) -> &'static Kind {
    // Indices come from the generated table, which only holds valid ones; the fallback keeps
    // this total without a panic path.
    KINDS.get(usize::from(i)).unwrap_or(&KINDS[0])
}

fn patterns(arch: &str, k: u16) -> &'static [&'static str] {
    ARCH_OVERRIDES.iter().find(|o| o.arch == arch && o.kind == k).map_or(kind(k).hf, |o| o.hf)
}

/// The index of one architecture, built as gguf-py builds its dict: for every kind of the arch in
/// the generated (gguf-py's) order, its GGUF template then its patterns, a later entry replacing
/// an earlier one.
fn arch_index(arch: &Arch) -> Index {
    let mut index = Index::new();
    let mut order = 0usize;
    for &k in arch.kinds {
        for t in std::iter::once(kind(k).gguf).chain(patterns(arch.name, k).iter().copied()) {
            index.insert(t, (order, k));
            order += 1;
        }
    }
    index
}

fn arch_indexes() -> &'static HashMap<&'static str, Index> {
    static INDEXES: OnceLock<HashMap<&'static str, Index>> = OnceLock::new();
    INDEXES.get_or_init(|| ARCHS.iter().map(|a| (a.name, arch_index(a))).collect())
}

/// The index over every architecture: a template used by several kinds goes to the kind most
/// architectures use it for (ties: the first kind); kinds no architecture lists still count.
fn global_index() -> &'static Index {
    static GLOBAL: OnceLock<Index> = OnceLock::new();
    GLOBAL.get_or_init(|| {
        let mut votes: HashMap<(&'static str, u16), usize> = HashMap::new();
        for index in arch_indexes().values() {
            for (&t, &(_, k)) in index {
                *votes.entry((t, k)).or_default() += 1;
            }
        }
        for (i, kd) in KINDS.iter().enumerate() {
            let k = u16::try_from(i).unwrap_or(u16::MAX);
            for t in std::iter::once(kd.gguf).chain(kd.hf.iter().copied()) {
                votes.entry((t, k)).or_default();
            }
        }
        let mut best: HashMap<&'static str, (usize, u16)> = HashMap::new();
        for ((t, k), n) in votes {
            let e = best.entry(t).or_insert((n, k));
            if n > e.0 || (n == e.0 && k < e.1) {
                *e = (n, k);
            }
        }
        // Every global entry has the same "order": no later-wins among different templates.
        best.into_iter().map(|(t, (_, k))| (t, (0, k))).collect()
    })
}

/// The architecture's index, if gguf-py knows the architecture.
fn index_for(arch: Option<&str>) -> Option<&'static Index> {
    match arch {
        Some(a) => arch_indexes().get(a),
        None => Some(global_index()),
    }
}

/// The byte ranges of the maximal ASCII digit runs of `name`.
fn digit_runs(name: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let b = name.as_bytes();
    let mut i = 0;
    std::iter::from_fn(move || {
        while i < b.len() && !b[i].is_ascii_digit() {
            i += 1;
        }
        if i >= b.len() {
            return None;
        }
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        Some((start, i))
    })
}

/// Looks `key` up in `index`: as is, and with each digit run as `{bid}`; the latest entry wins.
fn lookup(index: &Index, key: &str) -> Option<(u16, Option<u32>, &'static str)> {
    let mut best: Option<(usize, u16, Option<u32>, &'static str)> = None;
    let mut consider = |template: &str, bid: Option<u32>| {
        if let Some((&t, &(order, k))) = index.get_key_value(template) {
            if best.is_none_or(|b| order > b.0) {
                best = Some((order, k, bid, t));
            }
        }
    };
    consider(key, None);
    let mut template = String::with_capacity(key.len() + 5);
    for (s, e) in digit_runs(key) {
        let Ok(bid) = key[s..e].parse::<u32>() else { continue };
        template.clear();
        template.push_str(&key[..s]);
        template.push_str("{bid}");
        template.push_str(&key[e..]);
        consider(&template, Some(bid));
    }
    best.map(|(_, k, bid, t)| (k, bid, t))
}

/// `key` or `key` without a `.weight`/`.bias` suffix, as gguf-py's `try_suffixes`.
fn lookup_with_suffix(index: &Index, key: &str) -> Option<(u16, Option<u32>, &'static str, &'static str)> {
    if let Some((k, bid, t)) = lookup(index, key) {
        return Some((k, bid, t, ""));
    }
    [".weight", ".bias"].into_iter().find_map(|suffix| {
        let stem = key.strip_suffix(suffix)?;
        lookup(index, stem).map(|(k, bid, t)| (k, bid, t, suffix))
    })
}

fn instantiate(template: &str, bid: Option<u32>) -> String {
    match bid {
        Some(b) => template.replace("{bid}", &b.to_string()),
        None => template.to_owned(),
    }
}

fn block_type_of(k: u16, template: &str) -> BlockType {
    PATTERN_BLOCK_TYPES.iter().find(|(p, _)| *p == template).map_or(kind(k).block_type, |&(_, bt)| bt)
}

/// The kind of `name` (a Hugging Face or GGUF name, with or without `.weight`/`.bias`) in the
/// table of `arch` (a GGUF `general.architecture`), or of any architecture when `arch` is `None`.
pub fn match_name(arch: Option<&str>, name: &str) -> Option<Match> {
    let index = index_for(arch)?;
    let (k, bid, template, _) = lookup_with_suffix(index, name)?;
    let bid = if template.contains("{bid}") { bid } else { None };
    Some(Match { kind: kind(k), bid, block_type: block_type_of(k, template) })
}

/// The GGUF name gguf-py's `TensorNameMap` gives the Hugging Face tensor `hf_name` in architecture
/// `arch` (GGUF `general.architecture`: `llama`, `gemma3`), keeping a `.weight`/`.bias` suffix:
/// `model.layers.7.self_attn.q_proj.weight` -> `blk.7.attn_q.weight`. `None` when gguf-py does
/// not map the name (or does not know the architecture).
pub fn hf_to_gguf(arch: &str, hf_name: &str) -> Option<String> {
    let index = arch_indexes().get(arch)?;
    let (k, bid, _, suffix) = lookup_with_suffix(index, hf_name)?;
    Some(instantiate(kind(k).gguf, bid) + suffix)
}

/// Every Hugging Face name gguf-py maps to the GGUF tensor `gguf_name` in architecture `arch`:
/// each pattern of its kind that the architecture maps to that kind, instantiated with the block
/// number and given the same `.weight`/`.bias` suffix. Empty when the name is not a GGUF name of
/// the architecture.
pub fn gguf_to_hf_candidates(arch: &str, gguf_name: &str) -> Vec<String> {
    let (Some(a), Some(index)) = (ARCHS.iter().find(|a| a.name == arch), arch_indexes().get(arch)) else {
        return Vec::new();
    };
    let (stem, suffix) = [".weight", ".bias"]
        .into_iter()
        .find_map(|s| gguf_name.strip_suffix(s).map(|stem| (stem, s)))
        .unwrap_or((gguf_name, ""));
    let mut out = Vec::new();
    for &k in a.kinds {
        let Some(bid) = template_match(kind(k).gguf, stem) else { continue };
        for p in patterns(arch, k) {
            // gguf-py keeps the last kind a pattern was given: skip patterns another kind took.
            // A block pattern of a non-block kind (`rope_freqs` from one layer's `inv_freq`)
            // cannot be instantiated from the GGUF name.
            let instantiable = bid.is_some() || !p.contains("{bid}");
            if instantiable && index.get(p).is_some_and(|&(_, owner)| owner == k) {
                let name = instantiate(p, bid) + suffix;
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
    }
    out
}

/// `Some(bid)` when `name` is `template` with `{bid}` filled by a number (`Some(None)` for a
/// template without `{bid}` equal to `name`).
fn template_match(template: &str, name: &str) -> Option<Option<u32>> {
    match template.split_once("{bid}") {
        None => (template == name).then_some(None),
        Some((pre, post)) => {
            let digits = name.strip_prefix(pre)?.strip_suffix(post)?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok().map(Some)
        }
    }
}
