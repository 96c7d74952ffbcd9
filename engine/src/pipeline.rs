//! The analysis run: discover models -> open sources -> analyze every tensor in parallel ->
//! rows sorted as docs/output-spec.md says. Errors never stop the run: each is recorded with its file (and
//! tensor) and the rest goes on.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use rayon::prelude::*;
use regex::Regex;
use serde::Serialize;
use weightlens_analyzers::conv::ConvMode;
use weightlens_analyzers::rank::rank_working_bytes;
use weightlens_analyzers::stats::DEFAULT_ZERO_EPS;
use weightlens_analyzers::{RankAnalyzer, RankMode, SpectralAnalyzer, StatsAnalyzer};
use weightlens_core::table::{columns, sorted_order, OPTIONAL_COLUMNS};
use weightlens_core::{
    classify, classify_in, BlockType, Classification, Column, Error, QuantFacts, Row, Schema, Stack, TensorAnalyzer,
    TensorInfo, TensorSource, TensorView, Value,
};
use weightlens_readers::OpenOptions;

use crate::copies;
pub use crate::duplicates::Duplicate;
use crate::duplicates::{self, Signature};
use crate::shard::{self, Shard, TaskKey};

/// What to analyze and how.
#[derive(Clone)]
pub struct AnalyzeConfig {
    /// Files and directories to analyze.
    pub inputs: Vec<PathBuf>,
    /// Known identities of some inputs (hub models): a model under `path` gets them.
    pub identities: Vec<ModelIdentity>,
    /// The `model_id` column; derived from each model's path when absent.
    pub model_id: Option<String>,
    /// The `revision` column.
    pub revision: Option<String>,
    /// Only tensors whose name matches.
    pub filter: Option<Regex>,
    /// Sparsity threshold.
    pub zero_eps: f64,
    /// Rank computation.
    pub rank: RankMode,
    /// Spectral columns (`sigma_max` ... `alpha`) after the built-in ones.
    pub spectral: bool,
    /// With `spectral`, also WeightWatcher's `rand_distance` (`--spectral=full`).
    pub spectral_full: bool,
    /// With `spectral`, how 4-D (convolution) tensors are analyzed (`--conv`).
    pub conv: ConvMode,
    /// Working memory for ranks, in bytes: matrices needing more than their share of it
    /// (`max_memory / threads`) are analyzed one at a time; larger than all of it, refused.
    pub max_memory: u64,
    /// Further analyzers (plugins), whose columns follow the built-in ones.
    pub extra_analyzers: Vec<Arc<dyn TensorAnalyzer>>,
    /// How models are opened (memory limits).
    pub open_options: OpenOptions,
    /// The readers that detect and open the models (built-in and plugin).
    pub readers: weightlens_readers::ReaderRegistry,
    /// Analyze 3-D expert tensors as one matrix per expert and add the `expert_index` column.
    pub split_experts: bool,
    /// Analyze only this share of the selected tensors.
    pub shard: Option<Shard>,
    /// Analyze every model file, also the copies of a checkpoint stored twice in one directory
    /// (`--all-files`); by default only the copy transformers would load ([`crate::copies`]).
    pub all_files: bool,
}

impl AnalyzeConfig {
    /// The settings of a plain `weightlens analyze PATH...`: exact rank, no spectral columns,
    /// the default sparsity threshold, half the RAM for ranks, no filter, plugins or shard.
    /// Every field is public: change what you need.
    pub fn new<P: Into<PathBuf>>(inputs: impl IntoIterator<Item = P>) -> Self {
        AnalyzeConfig {
            inputs: inputs.into_iter().map(Into::into).collect(),
            identities: Vec::new(),
            model_id: None,
            revision: None,
            filter: None,
            zero_eps: DEFAULT_ZERO_EPS,
            rank: RankMode::Exact,
            spectral: false,
            spectral_full: false,
            conv: ConvMode::Reshape,
            max_memory: default_max_memory(),
            extra_analyzers: Vec::new(),
            open_options: OpenOptions::default(),
            readers: weightlens_readers::ReaderRegistry::with_builtin(),
            split_experts: false,
            shard: None,
            all_files: false,
        }
    }
}

/// Half of the physical memory (from /proc/meminfo), or 8 GiB where it cannot be read.
pub fn default_max_memory() -> u64 {
    let total_kib = std::fs::read_to_string("/proc/meminfo").ok().and_then(|s| {
        let line = s.lines().find(|l| l.starts_with("MemTotal:"))?.to_owned();
        line.split_whitespace().nth(1)?.parse::<u64>().ok()
    });
    total_kib.map_or(8 << 30, |k| k.saturating_mul(1024) / 2)
}

impl std::fmt::Debug for AnalyzeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalyzeConfig")
            .field("inputs", &self.inputs)
            .field("model_id", &self.model_id)
            .field("zero_eps", &self.zero_eps)
            .field("rank", &self.rank)
            .field("spectral", &self.spectral)
            .field("spectral_full", &self.spectral_full)
            .field("conv", &self.conv)
            .field("max_memory", &self.max_memory)
            .field("open_options", &self.open_options)
            .field("split_experts", &self.split_experts)
            .field("shard", &self.shard)
            .field("all_files", &self.all_files)
            .finish_non_exhaustive()
    }
}

/// The id and revision of the models under a path (e.g. a resolved hub snapshot).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelIdentity {
    /// Models at or under this path.
    pub path: PathBuf,
    /// Their `model_id`.
    pub model_id: String,
    /// Their `revision` (a commit hash).
    pub revision: String,
}

/// One error of a run, as listed in `run_meta.json`.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RunError {
    /// The file concerned.
    pub file: String,
    /// The tensor concerned, if only one.
    pub tensor: Option<String>,
    /// The one-line message (it names the file and tensor too).
    pub message: String,
    /// What kind of error it is (not written to `run_meta.json`).
    #[serde(skip)]
    pub kind: weightlens_core::ErrorKind,
}

impl From<&Error> for RunError {
    fn from(e: &Error) -> Self {
        RunError {
            file: e.path().display().to_string(),
            tensor: e.tensor_name().map(String::from),
            message: e.to_string(),
            kind: e.kind(),
        }
    }
}

/// A model that was opened.
#[derive(Clone, Debug, Serialize)]
pub struct ModelSummary {
    /// The path naming the model.
    pub model_path: String,
    /// Its `model_id`.
    pub model_id: String,
    /// Its `revision` (empty when unknown).
    pub revision: String,
    /// Its framework.
    pub framework: String,
    /// Tensors it holds (before `--filter`).
    pub tensors: usize,
    /// Format metadata.
    pub metadata: serde_json::Value,
    /// Warnings from opening it.
    pub warnings: Vec<String>,
    /// The pickle safety verdict of each of its files (`weightlens scan`'s, without findings
    /// for safe files).
    pub pickle_safety: Vec<weightlens_readers::safety::FileScan>,
}

/// The result of a run.
#[derive(Debug)]
pub struct Analysis {
    /// The table's columns.
    pub schema: Schema,
    /// The rows, sorted.
    pub rows: Vec<Row>,
    /// Everything that failed.
    pub errors: Vec<RunError>,
    /// The models opened.
    pub models: Vec<ModelSummary>,
    /// Tensors selected for analysis (rows + tensors that failed to read).
    pub tensors_selected: usize,
    /// Groups of tensors of one model holding the same bytes (same dtype and shape too).
    pub duplicates: Vec<Duplicate>,
    /// Tensors selected by the filter in all shards together (equal to `tensors_selected`
    /// without `--shard`).
    pub tasks_total: usize,
    /// For each row, the position of its tensor among all selected tensors of all shards
    /// (models in discovery order, tensors in source order): `merge` restores the order of an
    /// unsharded run from it.
    pub row_tasks: Vec<usize>,
    /// Model files left out as copies of a checkpoint analyzed from another file.
    pub skipped_files: Vec<crate::copies::SkippedFile>,
}

/// Hooks called while a run progresses (for a progress bar); every method defaults to nothing.
/// Called from worker threads.
pub trait Progress: Sync {
    /// Models were opened: `files` files, `tensors` tensors selected, `bytes` of their data.
    fn opened(&self, files: usize, tensors: usize, bytes: u64) {
        let _ = (files, tensors, bytes);
    }
    /// One tensor of `bytes` stored bytes was analyzed (or failed).
    fn tensor_done(&self, bytes: u64) {
        let _ = bytes;
    }
    /// True when the caller wants the run stopped (Ctrl-C in a notebook): tensors not yet
    /// started are then skipped, and the [`Analysis`] returned is incomplete (the caller
    /// discards it).
    fn cancelled(&self) -> bool {
        false
    }
}

/// A [`Progress`] that ignores everything.
#[derive(Debug)]
pub struct NoProgress;

impl Progress for NoProgress {}

/// The rows of one tensor (one per expert with `--split-experts`) and its content signature
/// (none for a tensor whose content is not read).
type TensorRows = (Vec<Row>, Option<Signature>);

struct OpenModel {
    source: Box<dyn TensorSource>,
    model_path: String,
    model_id: String,
    revision: String,
    /// The declared architecture (GGUF `general.architecture`, config.json), for naming.
    architecture: Option<String>,
}

impl OpenModel {
    fn classify(&self, name: &str) -> Classification {
        classify_in(name, self.architecture.as_deref())
    }
}

/// The analyzers of a run: built-in first, then the extra ones.
pub fn analyzers(config: &AnalyzeConfig) -> Vec<Arc<dyn TensorAnalyzer>> {
    // With --spectral the rank comes from the same singular values (one decomposition, not two).
    let matrix: Arc<dyn TensorAnalyzer> = if config.spectral {
        Arc::new(
            SpectralAnalyzer::new()
                .with_rank(config.rank)
                .with_max_bytes(config.max_memory)
                .with_rand_distance(config.spectral_full)
                .with_conv(config.conv),
        )
    } else {
        Arc::new(RankAnalyzer::new(config.rank).with_max_bytes(config.max_memory))
    };
    let builtin: [Arc<dyn TensorAnalyzer>; 2] = [Arc::new(StatsAnalyzer::new(config.zero_eps)), matrix];
    builtin.into_iter().chain(config.extra_analyzers.iter().cloned()).collect()
}

/// Runs the analysis. `created_at` is the run's timestamp, the same in every row.
pub fn analyze(config: &AnalyzeConfig, created_at: &str) -> Analysis {
    analyze_with_progress(config, created_at, &NoProgress)
}

/// [`analyze`], reporting its progress to `progress`.
pub fn analyze_with_progress(config: &AnalyzeConfig, created_at: &str, progress: &dyn Progress) -> Analysis {
    let analyzers = analyzers(config);
    // Optional built-in columns follow the built-in ones, before analyzer and plugin columns.
    let optional = OPTIONAL_COLUMNS.iter().filter(|_| config.split_experts).map(|(n, t)| Column::new(*n, *t));
    let schema = Schema::builtin_with(optional.chain(analyzers.iter().flat_map(|a| a.columns())));
    let slots: Vec<Vec<usize>> =
        analyzers.iter().map(|a| a.columns().iter().filter_map(|c| schema.index_of(&c.name)).collect()).collect();

    let step = Instant::now();
    let discovery = weightlens_readers::discover_with(&config.readers, &config.inputs);
    tracing::info!(
        operation = "discover",
        duration_ms = ms(step),
        models = discovery.models.len(),
        errors = discovery.errors.len(),
        "discovered models"
    );
    let mut errors: Vec<RunError> = discovery.errors.iter().map(RunError::from).collect();
    let mut models = Vec::new();
    let mut opened_from = Vec::new();
    for m in &discovery.models {
        let step = Instant::now();
        match weightlens_readers::open_model_with(m, &config.open_options) {
            Ok(source) => {
                opened_from.push(m);
                let model = identify(source, config);
                tracing::info!(
                    operation = "open",
                    duration_ms = ms(step),
                    model = %model.model_path,
                    framework = model.source.framework().as_str(),
                    tensors = model.source.tensors().len(),
                    "opened model"
                );
                models.push(model);
            }
            Err(e) => {
                tracing::debug!("{e}");
                errors.push(RunError::from(&e));
            }
        }
    }

    let mut skipped_files = Vec::new();
    if !config.all_files {
        let candidates: Vec<copies::Candidate<'_>> = models
            .iter()
            .zip(&opened_from)
            .map(|(model, found)| copies::Candidate {
                path: &found.path,
                is_index: found.reader.id() == weightlens_readers::SHARD_INDEX_ID,
                source: model.source.as_ref(),
            })
            .collect();
        let (keep, skipped) = copies::choose(&candidates);
        skipped_files = skipped;
        let mut keep = keep.into_iter();
        models.retain(|_| keep.next().unwrap_or(true));
    }

    let all_tasks: Vec<(usize, usize)> = models
        .iter()
        .enumerate()
        .flat_map(|(m, model)| {
            let wanted = |t: &TensorInfo| config.filter.as_ref().is_none_or(|re| re.is_match(&t.name));
            let tensors = model.source.tensors().iter().enumerate();
            tensors.filter(move |(_, t)| wanted(t)).map(move |(i, _)| (m, i)).collect::<Vec<_>>()
        })
        .collect();
    let cost = |&(m, i): &(usize, usize)| estimated_cost(&models[m].source.tensors()[i], config.split_experts);
    // `task_ids[pos]` is the position of task `pos` among all shards' tasks.
    let task_ids: Vec<usize> = match config.shard {
        None => (0..all_tasks.len()).collect(),
        Some(s) => {
            let keys: Vec<TaskKey> = all_tasks
                .iter()
                .map(|t @ &(m, i)| TaskKey {
                    cost: cost(t),
                    model: &models[m].model_path,
                    name: &models[m].source.tensors()[i].name,
                })
                .collect();
            let shard_of = shard::assign(&keys, s.count);
            (0..all_tasks.len()).filter(|&t| shard_of[t] == s.index).collect()
        }
    };
    let tasks: Vec<(usize, usize)> = task_ids.iter().map(|&t| all_tasks[t]).collect();
    let tensors_selected = tasks.len();
    let stored_bytes = |&(m, i): &(usize, usize)| models[m].source.tensors()[i].len;
    let files: usize = {
        let mut all: Vec<&Path> = tasks.iter().map(|&(m, i)| &*models[m].source.tensors()[i].file).collect();
        all.sort();
        all.dedup();
        all.len()
    };
    progress.opened(files, tensors_selected, tasks.iter().map(stored_bytes).sum());
    let step = Instant::now();
    // Expensive tensors first, so that a big matrix does not start last and run alone.
    let mut by_cost: Vec<usize> = (0..tasks.len()).collect();
    by_cost.sort_by(|&a, &b| cost(&tasks[b]).total_cmp(&cost(&tasks[a])));
    // Matrices needing more than a thread's share of the memory budget run one at a time (the
    // linear algebra is parallel inside them), before the rest run in parallel across tensors.
    let share = config.max_memory / rayon::current_num_threads().max(1) as u64;
    let heavy = |&&pos: &&usize| {
        let (m, i) = tasks[pos];
        (config.rank != RankMode::None || config.spectral)
            && analyzed_dims(&models[m].source.tensors()[i], config.split_experts)
                .is_some_and(|(r, c)| rank_working_bytes(r, c) > share)
    };
    let run = |&pos: &usize| {
        if progress.cancelled() {
            return (pos, None, Vec::new());
        }
        let (m, i) = tasks[pos];
        let (row, errs) = analyze_tensor(&models[m], i, &schema, &analyzers, &slots, created_at, config.split_experts);
        progress.tensor_done(stored_bytes(&tasks[pos]));
        (pos, row, errs)
    };
    let (big, small): (Vec<&usize>, Vec<&usize>) = by_cost.iter().partition(heavy);
    let mut results: Vec<(usize, Option<TensorRows>, Vec<Error>)> = big.into_iter().map(run).collect();
    results.extend(small.into_par_iter().map(run).collect::<Vec<_>>());
    let mut slots_by_pos: Vec<Vec<Row>> = vec![Vec::new(); tasks.len()];
    let mut signatures = Vec::new();
    for (pos, row, errs) in results {
        if let Some((rows, signature)) = row {
            slots_by_pos[pos] = rows;
            signatures.extend(signature.map(|s| (tasks[pos].0, tasks[pos].1, s)));
        }
        errors.extend(errs.iter().map(RunError::from));
    }
    let duplicates = duplicate_groups(&models, signatures);
    let (unsorted_tasks, unsorted): (Vec<usize>, Vec<Row>) = slots_by_pos
        .into_iter()
        .enumerate()
        .flat_map(|(pos, rows)| {
            let task = task_ids[pos];
            rows.into_iter().map(move |r| (task, r))
        })
        .unzip();
    let order = sorted_order(&schema, &unsorted);
    let row_tasks: Vec<usize> = order.iter().filter_map(|&r| unsorted_tasks.get(r).copied()).collect();
    let mut unsorted: Vec<Option<Row>> = unsorted.into_iter().map(Some).collect();
    let rows: Vec<Row> = order.iter().filter_map(|&r| unsorted.get_mut(r).and_then(Option::take)).collect();
    tracing::info!(
        operation = "analyze",
        duration_ms = ms(step),
        tensors = rows.len(),
        errors = errors.len(),
        duplicates = duplicates.len(),
        "analyzed tensors"
    );

    let summaries = models
        .iter()
        .map(|m| ModelSummary {
            model_path: m.model_path.clone(),
            model_id: m.model_id.clone(),
            revision: m.revision.clone(),
            framework: m.source.framework().as_str().into(),
            tensors: m.source.tensors().len(),
            metadata: m.source.metadata(),
            warnings: m.source.warnings(),
            pickle_safety: weightlens_readers::safety::scan_model(m.source.path()),
        })
        .collect();
    Analysis {
        schema,
        rows,
        errors,
        models: summaries,
        tensors_selected,
        duplicates,
        tasks_total: all_tasks.len(),
        row_tasks,
        skipped_files,
    }
}

impl Analysis {
    /// The warnings of every model opened.
    pub fn warnings(&self) -> impl Iterator<Item = &String> {
        self.models.iter().flat_map(|m| m.warnings.iter())
    }

    /// How many warnings the models gave.
    pub fn warning_count(&self) -> usize {
        self.warnings().count()
    }
}

/// Milliseconds since `start`, for log events.
pub fn ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// The groups of two or more tensors of one model with equal bytes, dtype and shape, sorted
/// by model and name.
fn duplicate_groups(models: &[OpenModel], signatures: Vec<(usize, usize, Signature)>) -> Vec<Duplicate> {
    let same_bytes = |m: usize, a: usize, b: usize| {
        let source = &models[m].source;
        match (source.view(a), source.view(b)) {
            (Ok(x), Ok(y)) => {
                let same = x.raw_bytes() == y.raw_bytes();
                source.release(a, x.raw_bytes());
                source.release(b, y.raw_bytes());
                same
            }
            // Read once already: an error now only means these two are not reported.
            (Err(e), _) | (_, Err(e)) => {
                tracing::debug!("{e}");
                false
            }
        }
    };
    let mut groups: Vec<Duplicate> = duplicates::find(signatures, same_bytes)
        .into_iter()
        .map(|(m, indices)| {
            let infos = models[m].source.tensors();
            let mut tensors: Vec<String> = indices.iter().map(|&i| infos[i].name.clone()).collect();
            tensors.sort();
            let bytes = indices.first().map_or(0, |&i| infos[i].len);
            Duplicate { model_path: models[m].model_path.clone(), tensors, bytes }
        })
        .collect();
    groups.sort_by(|a, b| (&a.model_path, &a.tensors).cmp(&(&b.model_path, &b.tensors)));
    groups
}

/// Work to analyze `t`: elements times the smaller matrix side (the SVD dominates). From the
/// header alone, so that the same costs order the work and balance the shards on every machine
/// before any tensor is read.
fn estimated_cost(t: &TensorInfo, split_experts: bool) -> f64 {
    let numel = t.numel().unwrap_or(u64::MAX) as f64;
    match analyzed_dims(t, split_experts) {
        Some((r, c)) => numel * (r.min(c) as f64).max(1.0),
        None => numel,
    }
}

/// The number of experts of a fused `[n_expert, rows, cols]` expert tensor analyzed per expert.
fn expert_count(t: &TensorInfo, split_experts: bool) -> Option<u64> {
    let fused = split_experts && t.shape.len() == 3 && classify(&t.name).block_type == BlockType::MoeExpert;
    fused.then(|| t.shape.first().copied()).flatten()
}

/// The `(rows, cols)` of each matrix analyzed for `t` (one expert's when split).
fn analyzed_dims(t: &TensorInfo, split_experts: bool) -> Option<(u64, u64)> {
    match (expert_count(t, split_experts), t.shape.as_slice()) {
        (Some(_), &[_, rows, cols]) => Some((rows, cols)),
        _ => t.matrix_dims(),
    }
}

fn identify(source: Box<dyn TensorSource>, config: &AnalyzeConfig) -> OpenModel {
    let path = source.path().to_path_buf();
    let known = config.identities.iter().find(|i| path.starts_with(&i.path));
    let (derived_id, derived_rev) = match known {
        Some(i) => (i.model_id.clone(), Some(i.revision.clone())),
        None => derive_identity(&path),
    };
    let architecture = weightlens_readers::config::architecture(source.as_ref());
    OpenModel {
        architecture,
        model_path: path.display().to_string(),
        model_id: config.model_id.clone().unwrap_or(derived_id),
        revision: config.revision.clone().or(derived_rev).unwrap_or_default(),
        source,
    }
}

/// A model id (and revision) from a model's path: `org/name` and the snapshot commit inside a
/// Hugging Face cache (`models--org--name/snapshots/<commit>/...`); otherwise the directory
/// name for generically named files (`model.safetensors`, `pytorch_model.bin`, indexes) and the
/// file stem for the rest.
pub fn derive_identity(path: &Path) -> (String, Option<String>) {
    let parts: Vec<String> = path.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if let Some(i) = parts.iter().position(|p| p.starts_with("models--")) {
        let id = parts[i].trim_start_matches("models--").replacen("--", "/", 1);
        let rev =
            (parts.get(i + 1).map(String::as_str) == Some("snapshots")).then(|| parts.get(i + 2).cloned()).flatten();
        return (id, rev);
    }
    let file = path.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
    let generic = ["model", "pytorch_model", "consolidated", "weights", "params"]
        .iter()
        .any(|g| file.starts_with(&format!("{g}.")) || file.starts_with(&format!("{g}-")));
    let dir = path.parent().and_then(|p| p.file_name()).map(|d| d.to_string_lossy().into_owned());
    match dir {
        Some(d) if generic => (d, None),
        _ => (file.split('.').next().unwrap_or(&file).to_string(), None),
    }
}

/// The rows of tensor `index`: one, or one per expert of a fused expert tensor when
/// `split_experts` (a tensor that cannot be cut is analyzed whole, with an error).
fn analyze_tensor(
    model: &OpenModel,
    index: usize,
    schema: &Schema,
    analyzers: &[Arc<dyn TensorAnalyzer>],
    slots: &[Vec<usize>],
    created_at: &str,
    split_experts: bool,
) -> (Option<TensorRows>, Vec<Error>) {
    let info = &model.source.tensors()[index];
    let quant = model.source.quant(index);
    if quant.is_some_and(|q| q.problem.is_some()) {
        // Looks quantized but cannot be dequantized: a row without statistics (the source
        // warned), never the stored integers' statistics; its content is not compared either.
        let row = identity_row(schema, model, info, quant, 1, created_at);
        return (Some((vec![row], None)), Vec::new());
    }
    // Analyzers streaming through a large tensor hand back the bytes they are done with.
    let release = |bytes: &[u8]| model.source.release(index, bytes);
    let view = match model.source.view(index) {
        Ok(v) => v.with_release(&release),
        Err(e) => {
            tracing::debug!("{e}");
            return (None, vec![e]);
        }
    };
    // The signature is taken once the rows hold the statistics; then the tensor's pages are
    // released (the run's resident memory is the tensors in flight, not all read so far).
    let finish = |rows: &[Row]| {
        let signature = Signature::new(info, view.raw_bytes(), rows, schema);
        model.source.release(index, view.raw_bytes());
        Some(signature)
    };
    let mut errors = Vec::new();
    if let Some(count) = expert_count(info, split_experts) {
        match split_rows(model, index, &view, count, schema, analyzers, slots, created_at, &mut errors) {
            Ok(rows) => {
                let signature = finish(&rows);
                return (Some((rows, signature)), errors);
            }
            Err(e) => {
                tracing::debug!("{e}");
                errors.push(e);
            }
        }
    }
    let mut row = identity_row(schema, model, info, quant, 1, created_at);
    if split_experts {
        let expert = classify(&info.name).expert_index.map_or(Value::Null, |e| Value::Int(i64::from(e)));
        row.set(schema, columns::EXPERT_INDEX, expert);
    }
    fill_metrics(&mut row, &view, analyzers, slots, &mut errors);
    let rows = vec![row];
    let signature = finish(&rows);
    (Some((rows, signature)), errors)
}

/// One row per expert of a fused expert tensor, each expert's matrix viewed in place.
#[allow(clippy::too_many_arguments)]
fn split_rows(
    model: &OpenModel,
    index: usize,
    view: &TensorView<'_>,
    count: u64,
    schema: &Schema,
    analyzers: &[Arc<dyn TensorAnalyzer>],
    slots: &[Vec<usize>],
    created_at: &str,
    errors: &mut Vec<Error>,
) -> Result<Vec<Row>, Error> {
    let info = view.info();
    // Every slice is checked before any row is made, so a tensor is split wholly or not at all.
    let infos = (0..count).map(|e| info.leading_slice(e)).collect::<Result<Vec<_>, _>>()?;
    let views = infos.iter().zip(0..).map(|(i, e)| view.leading_slice(e, i)).collect::<Result<Vec<_>, _>>()?;
    let rows = views
        .iter()
        .zip(0..)
        .map(|(expert_view, e)| {
            let quant = model.source.quant(index);
            let mut row = identity_row(schema, model, expert_view.info(), quant, count, created_at);
            row.set(schema, columns::EXPERT_INDEX, Value::Int(e));
            fill_metrics(&mut row, expert_view, analyzers, slots, errors);
            row
        })
        .collect();
    Ok(rows)
}

/// Runs every analyzer on `view` into `row`; failures go to `errors`.
fn fill_metrics(
    row: &mut Row,
    view: &TensorView<'_>,
    analyzers: &[Arc<dyn TensorAnalyzer>],
    slots: &[Vec<usize>],
    errors: &mut Vec<Error>,
) {
    for (analyzer, slot) in analyzers.iter().zip(slots) {
        match analyzer.analyze(view) {
            Ok(values) => {
                for (&i, v) in slot.iter().zip(values) {
                    row.values[i] = v;
                }
            }
            Err(e) => {
                tracing::debug!("{e}");
                errors.push(e);
            }
        }
    }
}

/// The header facts of a row; `quant` describes a quantized tensor of which the row is one of
/// `parts` equal slices (experts).
fn identity_row(
    schema: &Schema,
    model: &OpenModel,
    info: &TensorInfo,
    quant: Option<&QuantFacts>,
    parts: u64,
    created_at: &str,
) -> Row {
    use columns::*;
    let class = model.classify(&info.name);
    let (rows, cols) = info.matrix_dims().unzip();
    let mut row = Row::nulls(schema.len());
    let text = |s: &str| Value::Str(s.to_string());
    let cells: [(&str, Value); 15] = [
        (MODEL_PATH, text(&model.model_path)),
        (MODEL_ID, text(&model.model_id)),
        (REVISION, if model.revision.is_empty() { Value::Null } else { text(&model.revision) }),
        (PARAM_NAME, text(&info.name)),
        (LAYER_INDEX, class.layer_index.map_or(Value::Null, |l| Value::Int(i64::from(l)))),
        (BLOCK_TYPE, text(class.block_type.as_str())),
        (SHAPE, Value::Str(info.shape_string())),
        (ROWS, rows.into()),
        (COLS, cols.into()),
        (DTYPE, text(&info.dtype_name)),
        (CREATED_AT, text(created_at)),
        // The main stack is an empty cell (null), as CSV reads it back.
        (STACK, if class.stack == Stack::Main { Value::Null } else { text(class.stack.as_str()) }),
        (FRAMEWORK, text(model.source.framework().as_str())),
        (DEVICE, text("cpu")),
        (NUMEL, info.numel().into()),
    ];
    for (name, value) in cells {
        row.set(schema, name, value);
    }
    row.set(schema, FILE, Value::Str(info.file.display().to_string()));
    let stored = quant.map_or(info.len, |q| q.stored_bytes / parts.max(1));
    row.set(schema, STORED_BYTES, Some(stored).into());
    let bpw = info.numel().filter(|&n| n > 0).map(|n| stored as f64 * 8.0 / n as f64);
    row.set(schema, BITS_PER_WEIGHT, bpw.into());
    if let Some(q) = quant {
        row.set(schema, QUANT_SCHEME, text(&q.scheme));
        row.set(schema, BITS, q.bits.map(u64::from).into());
        row.set(schema, GROUP_SIZE, q.group_size.into());
    }
    row
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_from_paths() {
        let hf = Path::new("/c/hub/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/abc123/model.safetensors");
        assert_eq!(derive_identity(hf), ("sentence-transformers/all-MiniLM-L6-v2".into(), Some("abc123".into())));
        let local = Path::new("data/models/llama-tiny/model.safetensors.index.json");
        assert_eq!(derive_identity(local).0, "llama-tiny");
        assert_eq!(derive_identity(Path::new("x/gemma-3-270m-q4_k_m.gguf")).0, "gemma-3-270m-q4_k_m");
    }
}
