//! `weightlens diff A B`: open two models, match their tensors ([`matching`]), compare every
//! matched pair in parallel ([`compare`]), and build the diff table's rows.
//!
//! Memory: one pair per worker thread, each side decoded in row blocks from its memory map;
//! only a delta rank keeps `D` whole, and pairs whose rank needs more than a thread's share
//! of `--max-memory` run one at a time after the others.

pub mod compare;
pub mod convert;
pub mod fused;
pub mod importance;
pub mod mapfile;
pub mod matching;
pub mod names;
pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use regex::Regex;
use weightlens_analyzers::rank::rank_working_bytes;
use weightlens_analyzers::RankMode;
use weightlens_core::table::sort_rows;
use weightlens_core::{classify, Column, ColumnType, Framework, Row, Schema, TensorInfo, TensorSource, Value};
use weightlens_readers::imatrix::Imatrix;
use weightlens_readers::OpenOptions;

use crate::pipeline::RunError;
use compare::{compare_pair, CompareOptions, PairResult};
use convert::Conversion;
use importance::{hf_gguf_arch, Importance, PairWeights};
use mapfile::UserMap;
use matching::{match_tensors, MatchInput, MatchPlan, Mismatch, PairPlan, Side};

/// What to compare and how.
#[derive(Clone, Debug)]
pub struct DiffConfig {
    /// Model A (the reference).
    pub a: PathBuf,
    /// Model B.
    pub b: PathBuf,
    /// Only tensors whose name (in A or B) matches.
    pub filter: Option<Regex>,
    /// Rank of the deltas.
    pub rank: RankMode,
    /// Working memory for delta ranks (bytes).
    pub max_memory: u64,
    /// Extra name pairs.
    pub user_map: UserMap,
    /// How models are opened.
    pub open_options: OpenOptions,
    /// `--imatrix`: weigh the error of each input column by llama.cpp's importance matrix.
    pub imatrix: Option<Arc<Imatrix>>,
}

/// Why no comparison could be made at all.
#[derive(Debug, thiserror::Error)]
pub enum DiffError {
    /// A side could not be opened.
    #[error("{0}")]
    Open(#[from] weightlens_core::Error),
    /// A side is not one model.
    #[error("{}: {message}", path.display())]
    NotOneModel {
        /// The input.
        path: PathBuf,
        /// What was found.
        message: String,
    },
    /// Nothing matched.
    #[error("{} and {} have no tensor in common ({} tensors in A, {} in B; a --map file can pair them)", a.display(), b.display(), count_a, count_b)]
    NothingInCommon {
        /// Model A.
        a: PathBuf,
        /// Model B.
        b: PathBuf,
        /// Tensors in A.
        count_a: usize,
        /// Tensors in B.
        count_b: usize,
    },
}

/// One side as `run_meta.json` describes it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SideSummary {
    /// The path naming the model.
    pub model_path: String,
    /// Its framework.
    pub framework: String,
    /// Tensors it holds.
    pub tensors: usize,
    /// `general.architecture` (GGUF) or `architectures[0]` (HF `config.json`).
    pub architecture: Option<String>,
}

/// The result of a diff.
#[derive(Debug)]
pub struct Diff {
    /// The table's columns ([`diff_schema`]).
    pub schema: Schema,
    /// The rows: matched pairs and unmatched tensors, sorted by layer.
    pub rows: Vec<Row>,
    /// Tensors that failed to read (their pairs have no row).
    pub errors: Vec<RunError>,
    /// The two models.
    pub sides: [SideSummary; 2],
    /// Names only in A.
    pub only_in_a: Vec<String>,
    /// Names only in B.
    pub only_in_b: Vec<String>,
    /// Counterparts not compared.
    pub mismatched: Vec<Mismatch>,
    /// Pairs compared.
    pub matched: usize,
}

/// The columns of the diff table, in order (docs/output-spec.md "diff").
pub const DIFF_COLUMNS: &[(&str, ColumnType)] = {
    use ColumnType::*;
    &[
        ("match", Str),
        ("name_a", Str),
        ("name_b", Str),
        ("layer_index", Int),
        ("block_type", Str),
        ("shape_a", Str),
        ("shape_b", Str),
        ("dtype_a", Str),
        ("dtype_b", Str),
        ("transform", Str),
        ("numel", Int),
        ("rel_l2", Float),
        ("cosine", Float),
        ("snr_db", Float),
        ("max_abs", Float),
        ("mean_abs", Float),
        ("delta_mean", Float),
        ("delta_std", Float),
        ("imatrix_rel_l2", Float),
        ("imatrix_snr_db", Float),
        ("delta_rank", Int),
        ("delta_rank_per_slice", Str),
        ("rank_method", Str),
        ("note", Str),
        ("model_a", Str),
        ("model_b", Str),
        ("created_at", Str),
    ]
};

/// The diff table's schema.
pub fn diff_schema() -> Schema {
    Schema::new(DIFF_COLUMNS.iter().map(|(n, t)| Column::new(*n, *t)))
}

struct Opened {
    source: Box<dyn TensorSource>,
    hf_config: Option<serde_json::Value>,
}

/// Opens the one model at `path`.
fn open_side(path: &Path, options: &OpenOptions) -> Result<Opened, DiffError> {
    let discovery = weightlens_readers::discover(std::slice::from_ref(&path.to_path_buf()));
    let model = match (discovery.models.as_slice(), discovery.errors.into_iter().next()) {
        ([one], _) => one.clone(),
        ([], Some(e)) => return Err(e.into()),
        (many, _) => {
            let message = format!("holds {} models; diff compares one model with one", many.len());
            return Err(DiffError::NotOneModel { path: path.to_path_buf(), message });
        }
    };
    let source = weightlens_readers::open_model_with(&model, options)?;
    Ok(Opened { hf_config: read_hf_config(path), source })
}

/// Largest `config.json` read.
const MAX_CONFIG_BYTES: u64 = 16 << 20;

/// The HF `config.json` in the model's directory (or beside the model file), if readable.
fn read_hf_config(path: &Path) -> Option<serde_json::Value> {
    let dir = if path.is_dir() { path } else { path.parent()? };
    let file = dir.join("config.json");
    let len = std::fs::metadata(&file).ok()?.len();
    if len > MAX_CONFIG_BYTES {
        tracing::warn!("{}: {len} bytes, not read as a model config", file.display());
        return None;
    }
    let text = std::fs::read_to_string(&file).ok()?;
    match serde_json::from_str(&text) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(
                "{}: not a JSON model config ({e}); converter transforms follow the GGUF architecture",
                file.display()
            );
            None
        }
    }
}

fn summarize(path: &Path, o: &Opened) -> SideSummary {
    let meta = o.source.metadata();
    let architecture = match o.source.framework() {
        Framework::GGUF => meta.get("architecture").and_then(|v| v.as_str()).map(str::to_string),
        _ => o.hf_config.as_ref().and_then(|c| c.get("architectures")?.get(0)?.as_str()).map(str::to_string),
    };
    SideSummary {
        model_path: path.display().to_string(),
        framework: o.source.framework().as_str().to_string(),
        tensors: o.source.tensors().len(),
        architecture,
    }
}

/// Which side is the GGUF when exactly one is, with what its conversion did.
fn gguf_side(a: &Opened, b: &Opened) -> Option<(Side, Conversion)> {
    let (ga, gb) = (a.source.framework() == Framework::GGUF, b.source.framework() == Framework::GGUF);
    match (ga, gb) {
        (true, false) => Some((Side::A, Conversion::new(&a.source.metadata(), b.hf_config.as_ref()))),
        (false, true) => Some((Side::B, Conversion::new(&b.source.metadata(), a.hf_config.as_ref()))),
        _ => None,
    }
}

/// Runs a diff. Fails only when a side cannot be opened or nothing matches; unreadable
/// tensors are listed in [`Diff::errors`] and the rest is compared.
pub fn diff(config: &DiffConfig, created_at: &str) -> Result<Diff, DiffError> {
    let a = open_side(&config.a, &config.open_options)?;
    let b = open_side(&config.b, &config.open_options)?;
    let input =
        MatchInput { a: a.source.tensors(), b: b.source.tensors(), gguf: gguf_side(&a, &b), user: &config.user_map };
    let mut plan = match_tensors(&input);
    if plan.pairs.is_empty() && plan.mismatched.is_empty() {
        return Err(DiffError::NothingInCommon {
            a: config.a.clone(),
            b: config.b.clone(),
            count_a: input.a.len(),
            count_b: input.b.len(),
        });
    }
    if let Some(re) = &config.filter {
        filter_plan(&mut plan, input.a, input.b, re);
    }
    tracing::info!(
        operation = "match",
        matched = plan.pairs.len(),
        only_in_a = plan.only_a.len(),
        only_in_b = plan.only_b.len(),
        mismatched = plan.mismatched.len(),
        "matched tensors"
    );
    let weights = pair_weights(config, &input, &a, &b, &plan.pairs);
    let results = compare_all(a.source.as_ref(), b.source.as_ref(), &plan.pairs, &weights, config);
    let sides = [summarize(&config.a, &a), summarize(&config.b, &b)];
    let schema = diff_schema();
    let ctx = RowContext { schema: &schema, a: input.a, b: input.b, sides: &sides, created_at };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for ((pair, result), w) in plan.pairs.iter().zip(results).zip(&weights) {
        match result {
            Ok(r) => {
                if r.non_finite > 0 {
                    tracing::warn!(
                        "{} / {}: {} element pairs are NaN or infinite; the metrics are left empty",
                        pair.name_a,
                        pair.name_b,
                        r.non_finite
                    );
                }
                let mut row = ctx.matched_row(pair, &r);
                if let PairWeights::Missing(note) = w {
                    row.set(&schema, "note", Value::Str(note.clone()));
                }
                rows.push(row);
            }
            Err(e) => errors.push(RunError::from(&e)),
        }
    }
    rows.extend(plan.mismatched.iter().map(|m| ctx.mismatch_row(m)));
    rows.extend(plan.only_a.iter().map(|&i| ctx.unmatched_row(Side::A, &input.a[i])));
    rows.extend(plan.only_b.iter().map(|&i| ctx.unmatched_row(Side::B, &input.b[i])));
    sort_rows(&schema, &mut rows);
    Ok(Diff {
        rows,
        errors,
        matched: plan.pairs.len(),
        only_in_a: plan.only_a.iter().map(|&i| input.a[i].name.clone()).collect(),
        only_in_b: plan.only_b.iter().map(|&i| input.b[i].name.clone()).collect(),
        mismatched: plan.mismatched,
        sides,
        schema,
    })
}

/// The imatrix weights of every pair ([`PairWeights::Off`] without `--imatrix`).
fn pair_weights(
    config: &DiffConfig,
    input: &MatchInput<'_>,
    a: &Opened,
    b: &Opened,
    pairs: &[PairPlan],
) -> Vec<PairWeights> {
    let Some(imatrix) = &config.imatrix else { return vec![PairWeights::Off; pairs.len()] };
    let (gguf_side, arch) = match &input.gguf {
        Some((side, conversion)) => (Some(*side), Some(conversion.gguf_architecture.clone())),
        None => (None, hf_gguf_arch(a.hf_config.as_ref()).or_else(|| hf_gguf_arch(b.hf_config.as_ref()))),
    };
    let importance = Importance { imatrix, gguf_side, arch };
    pairs.iter().map(|p| importance.weights(p, input.a, input.b)).collect()
}

/// Keeps what `re` selects: pairs and mismatches by either name, unmatched tensors by theirs.
fn filter_plan(plan: &mut MatchPlan, a: &[TensorInfo], b: &[TensorInfo], re: &Regex) {
    plan.pairs.retain(|p| re.is_match(&p.name_a) || re.is_match(&p.name_b));
    plan.mismatched.retain(|m| re.is_match(&m.name_a) || re.is_match(&m.name_b));
    plan.only_a.retain(|&i| re.is_match(&a[i].name));
    plan.only_b.retain(|&i| re.is_match(&b[i].name));
}

/// Compares every pair: in parallel, except pairs whose delta rank needs more than one
/// thread's share of the memory budget, which run one at a time afterwards.
fn compare_all(
    a: &dyn TensorSource,
    b: &dyn TensorSource,
    pairs: &[PairPlan],
    weights: &[PairWeights],
    config: &DiffConfig,
) -> Vec<weightlens_core::Result<PairResult>> {
    let options = CompareOptions { rank: config.rank, max_rank_bytes: config.max_memory };
    let share = config.max_memory / rayon::current_num_threads().max(1) as u64;
    let big = |p: &PairPlan| {
        config.rank != RankMode::None
            && a.tensors()
                .get(p.a[0].tensor)
                .and_then(|t| slice_dims(t, p.a[0].expert.is_some()))
                .is_some_and(|(r, c)| rank_working_bytes(r, c) > share)
    };
    let mut results: Vec<Option<weightlens_core::Result<PairResult>>> =
        pairs.par_iter().zip(weights).map(|(p, w)| (!big(p)).then(|| compare_pair(a, b, p, &options, w))).collect();
    for ((slot, p), w) in results.iter_mut().zip(pairs).zip(weights) {
        if slot.is_none() {
            *slot = Some(compare_pair(a, b, p, &options, w));
        }
    }
    results.into_iter().flatten().collect()
}

/// The matrix dimensions of a tensor, or of one slice of it.
fn slice_dims(t: &TensorInfo, slice: bool) -> Option<(u64, u64)> {
    if slice {
        let rest = t.shape.get(1..)?;
        let (&r, cols) = rest.split_first()?;
        Some((r, cols.iter().try_fold(1u64, |acc, &d| acc.checked_mul(d))?))
    } else {
        t.matrix_dims()
    }
}

struct RowContext<'a> {
    schema: &'a Schema,
    a: &'a [TensorInfo],
    b: &'a [TensorInfo],
    sides: &'a [SideSummary; 2],
    created_at: &'a str,
}

impl RowContext<'_> {
    fn base(&self, kind: &str, name_a: Option<&str>, name_b: Option<&str>) -> Row {
        let mut row = Row::nulls(self.schema.len());
        let s = |v: &str| Value::Str(v.to_string());
        row.set(self.schema, "match", s(kind));
        if let Some(n) = name_a {
            row.set(self.schema, "name_a", s(n));
        }
        if let Some(n) = name_b {
            row.set(self.schema, "name_b", s(n));
        }
        // Layer and block from A's name (HF names carry both), else B's.
        let c = classify(name_a.or(name_b).unwrap_or_default());
        row.set(self.schema, "layer_index", c.layer_index.map_or(Value::Null, |l| Value::Int(i64::from(l))));
        row.set(self.schema, "block_type", s(c.block_type.as_str()));
        row.set(self.schema, "model_a", s(&self.sides[0].model_path));
        row.set(self.schema, "model_b", s(&self.sides[1].model_path));
        row.set(self.schema, "created_at", s(self.created_at));
        row
    }

    fn matched_row(&self, pair: &PairPlan, r: &PairResult) -> Row {
        let mut row = self.base("matched", Some(&pair.name_a), Some(&pair.name_b));
        let set = |row: &mut Row, c: &str, v: Value| row.set(self.schema, c, v);
        let describe = |list: &[TensorInfo], slices: &[matching::Slice]| -> (String, String) {
            let first = slices.first().and_then(|s| list.get(s.tensor).map(|t| (t, s.expert.is_some())));
            match first {
                Some((t, _)) if slices.len() > 1 && slices[0].expert.is_none() => (
                    format!("[{}, {}", slices.len(), t.shape_string().trim_start_matches('[')),
                    t.dtype_name.to_string(),
                ),
                Some((t, _)) => (t.shape_string(), t.dtype_name.to_string()),
                None => (String::new(), String::new()),
            }
        };
        let (shape_a, dtype_a) = describe(self.a, &pair.a);
        let (shape_b, dtype_b) = describe(self.b, &pair.b);
        set(&mut row, "shape_a", Value::Str(shape_a));
        set(&mut row, "shape_b", Value::Str(shape_b));
        set(&mut row, "dtype_a", Value::Str(dtype_a));
        set(&mut row, "dtype_b", Value::Str(dtype_b));
        let fused = pair.a.iter().chain(&pair.b).find_map(|s| s.fused);
        let transform = match pair.stacked {
            _ if fused.is_some() => fused.map(|f| f.label(pair.a.len() as u64)).unwrap_or_default(),
            true if pair.transform == weightlens_analyzers::delta::Transform::None => {
                format!("stack(dim=0, n_expert={})", pair.a.len())
            }
            true => format!("stack(dim=0, n_expert={}) + {}", pair.a.len(), pair.transform.label()),
            false => pair.transform.label(),
        };
        set(&mut row, "transform", Value::Str(transform));
        set(&mut row, "numel", Some(r.numel).into());
        let m = &r.metrics;
        for (c, v) in [
            ("rel_l2", m.rel_l2),
            ("cosine", m.cosine),
            ("snr_db", m.snr_db),
            ("max_abs", m.max_abs),
            ("mean_abs", m.mean_abs),
            ("delta_mean", m.delta_mean),
            ("delta_std", m.delta_std),
        ] {
            set(&mut row, c, v.into());
        }
        if let Some((rel, snr)) = r.imatrix {
            set(&mut row, "imatrix_rel_l2", rel.into());
            set(&mut row, "imatrix_snr_db", snr.into());
        }
        set(&mut row, "delta_rank", r.delta_rank.into());
        if let Some(ranks) = &r.delta_rank_per_slice {
            let text: Vec<String> = ranks.iter().map(u64::to_string).collect();
            set(&mut row, "delta_rank_per_slice", Value::Str(format!("[{}]", text.join(", "))));
        }
        if let Some(m) = r.rank_method {
            set(&mut row, "rank_method", Value::Str(m.into()));
        }
        row
    }

    fn mismatch_row(&self, m: &Mismatch) -> Row {
        let mut row = self.base("shape_mismatch", Some(&m.name_a), Some(&m.name_b));
        row.set(self.schema, "shape_a", Value::Str(m.shape_a.clone()));
        row.set(self.schema, "shape_b", Value::Str(m.shape_b.clone()));
        row.set(self.schema, "note", Value::Str(m.reason.clone()));
        row
    }

    fn unmatched_row(&self, side: Side, t: &TensorInfo) -> Row {
        let (kind, a, b, shape, dtype) = match side {
            Side::A => ("only_in_a", Some(t.name.as_str()), None, "shape_a", "dtype_a"),
            Side::B => ("only_in_b", None, Some(t.name.as_str()), "shape_b", "dtype_b"),
        };
        let mut row = self.base(kind, a, b);
        row.set(self.schema, shape, Value::Str(t.shape_string()));
        row.set(self.schema, dtype, Value::Str(t.dtype_name.to_string()));
        row.set(self.schema, "numel", t.numel().into());
        row
    }
}
