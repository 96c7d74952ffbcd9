//! `weightlens merge`: part tables (the shards of one `--shard K/N` run, or separate runs) into
//! one sorted table and one `run_meta.json`.
//!
//! Shards are put back in the order an unsharded run gives (each row's tensor position is in
//! its part's `run_meta.json`), so merging every shard reproduces the whole run's table, except
//! `created_at`, which becomes the earliest part's start time in every row.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value as Json};
use weightlens_core::table::{columns, sort_rows};
use weightlens_core::{Column, ColumnType, Error, Result, Row, Schema, Value};

use crate::export::{cell_text, read_table, Table};
use crate::meta::{meta_path, ShardMeta};

/// One part: its table and the `run_meta.json` beside it.
#[derive(Debug)]
pub struct Part {
    /// The table file.
    pub path: PathBuf,
    /// Its contents.
    pub table: Table,
    /// Its `run_meta.json`.
    pub meta: Map<String, Json>,
    /// Its shard record, when it is a shard.
    pub shard: Option<ShardMeta>,
}

/// Reads a part table and the `run_meta.json` beside it, which must describe this table (two
/// shards written to one directory leave only the last one's).
pub fn load_part(path: &Path) -> Result<Part> {
    let err = |m: String| Error::Output { path: path.to_path_buf(), message: m };
    let table = read_table(path)?;
    let meta_file = meta_path(path);
    let text = std::fs::read(&meta_file).map_err(|e| Error::io(&meta_file, e))?;
    let meta: Map<String, Json> = serde_json::from_slice(&text)
        .map_err(|e| Error::Output { path: meta_file.clone(), message: format!("not a run_meta.json: {e}") })?;
    let described = meta.get("output").and_then(Json::as_str).map(PathBuf::from);
    if described.as_deref().and_then(Path::file_name) != path.file_name() {
        return Err(err(format!(
            "{} describes {}, not this table (write each shard to its own directory)",
            meta_file.display(),
            described.map_or_else(|| "no table".into(), |d| d.display().to_string())
        )));
    }
    let shard = match meta.get("shard") {
        None | Some(Json::Null) => None,
        Some(s) => Some(
            serde_json::from_value::<ShardMeta>(s.clone())
                .map_err(|e| err(format!("{}: bad shard record: {e}", meta_file.display())))?,
        ),
    };
    if let Some(s) = &shard {
        if s.row_tasks.len() != table.rows.len() {
            return Err(err(format!(
                "{} rows, but {} lists {} (the table was changed after the run?)",
                table.rows.len(),
                meta_file.display(),
                s.row_tasks.len()
            )));
        }
    }
    Ok(Part { path: path.to_path_buf(), table, meta, shard })
}

/// The merged table and metadata (the caller adds `output`, `format` and `validation`).
#[derive(Debug)]
pub struct Merged {
    /// The columns (those of every part).
    pub schema: Schema,
    /// The rows, deduplicated and sorted.
    pub rows: Vec<Row>,
    /// The combined `run_meta.json`.
    pub meta: Map<String, Json>,
    /// Things worth a warning: missing shards, duplicate rows, differing code versions.
    pub warnings: Vec<String>,
}

/// Merges `parts` (at least one). Refuses parts with different columns, different thresholds,
/// or a mix of shard counts (or of shards and whole runs); warns about missing shards and drops
/// duplicate rows (same model, tensor and expert) with a warning.
pub fn merge(parts: &[Part], cli_args: Vec<String>) -> crate::Result<Merged> {
    merge_parts(parts, cli_args).map_err(|message| crate::Error::Merge { message })
}

fn merge_parts(parts: &[Part], cli_args: Vec<String>) -> std::result::Result<Merged, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let mut warnings = Vec::new();
    let schema = merged_schema(parts)?;
    check_same(parts, "thresholds", "thresholds")?;
    if check_same(parts, "code_version", "weightlens versions").is_err() {
        warnings.push("the parts were written by different weightlens versions".into());
    }
    let shard_meta = shard_record(parts, &mut warnings)?;

    // Rows in the order of an unsharded run (shards) or of the parts (whole runs), then sorted
    // by layer as every table is.
    let mut keyed: Vec<(usize, usize, usize, Row)> = Vec::new();
    for (p, part) in parts.iter().enumerate() {
        for (r, row) in part.table.rows.iter().enumerate() {
            let task = part.shard.as_ref().and_then(|s| s.row_tasks.get(r).copied()).unwrap_or(0);
            keyed.push((task, p, r, conform(row, &part.table.schema, &schema)));
        }
    }
    keyed.sort_by_key(|(task, p, r, _)| (*task, *p, *r));
    let mut seen = HashSet::new();
    let mut dropped = 0usize;
    let mut rows = Vec::with_capacity(keyed.len());
    for (_, _, _, row) in keyed {
        let key: Vec<String> = [columns::MODEL_PATH, columns::PARAM_NAME, columns::EXPERT_INDEX]
            .iter()
            .map(|c| row.get(&schema, c).map(cell_text).unwrap_or_default())
            .collect();
        if seen.insert(key) {
            rows.push(row);
        } else {
            dropped += 1;
        }
    }
    if dropped > 0 {
        warnings
            .push(format!("{dropped} duplicate rows (same model, tensor and expert) dropped; the first part's kept"));
    }
    sort_rows(&schema, &mut rows);

    let started = parts.iter().filter_map(|p| p.meta.get("started_at").and_then(Json::as_str)).min();
    if let Some(created_at) = started {
        for row in &mut rows {
            row.set(&schema, columns::CREATED_AT, Value::Str(created_at.to_string()));
        }
    }

    let mut meta = first.meta.clone();
    let union = |key: &str, id: &dyn Fn(&Json) -> String| -> Json {
        let mut seen = HashSet::new();
        let all = parts.iter().flat_map(|p| p.meta.get(key).and_then(Json::as_array).cloned().unwrap_or_default());
        Json::Array(all.filter(|v| seen.insert(id(v))).collect())
    };
    let models = union("models", &|m| m.get("model_path").map(Json::to_string).unwrap_or_default());
    let field = |name: &str| -> Json {
        models
            .as_array()
            .map(|ms| ms.iter().map(|m| m.get(name).cloned().unwrap_or(Json::Null)).collect())
            .unwrap_or_default()
    };
    meta.insert("model_id".into(), field("model_id"));
    meta.insert("revision".into(), field("revision"));
    meta.insert("model_path".into(), field("model_path"));
    let mut frameworks: Vec<String> = models
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| m.get("framework")?.as_str().map(String::from))
        .collect();
    frameworks.sort();
    frameworks.dedup();
    meta.insert("framework".into(), json!(frameworks));
    meta.insert("models".into(), models);
    meta.insert("errors".into(), union("errors", &Json::to_string));
    meta.insert("duplicates".into(), union("duplicates", &Json::to_string));
    meta.insert("cli_args".into(), json!(cli_args));
    let get_str = |p: &Part, k: &str| p.meta.get(k).and_then(Json::as_str).map(String::from);
    if let Some(s) = started {
        meta.insert("started_at".into(), json!(s));
    }
    if let Some(f) = parts.iter().filter_map(|p| get_str(p, "finished_at")).max() {
        meta.insert("finished_at".into(), json!(f));
    }
    let sum = |k: &str| parts.iter().filter_map(|p| p.meta.get(k)?.as_f64()).sum::<f64>();
    meta.insert("duration_s".into(), json!(sum("duration_s")));
    meta.insert("tensors_selected".into(), json!(sum("tensors_selected") as u64));
    meta.insert("tensor_count".into(), json!(rows.len()));
    let part_list: Vec<Json> = parts
        .iter()
        .map(|p| {
            json!({ "table": p.path, "shard": p.shard.as_ref().map(|s| s.index), "cli_args": p.meta.get("cli_args"),
                "started_at": p.meta.get("started_at"), "finished_at": p.meta.get("finished_at"),
                "duration_s": p.meta.get("duration_s"), "environment": p.meta.get("environment"),
                "limits": p.meta.get("limits") })
        })
        .collect();
    meta.insert("parts".into(), Json::Array(part_list));
    match shard_meta {
        Some(s) => meta.insert("shard".into(), s),
        None => meta.remove("shard"),
    };
    Ok(Merged { schema, rows, meta, warnings })
}

/// The columns of every part (the same names in the same order); a column typed differently
/// by different formats (a plugin column inferred from CSV text) becomes a float, or text.
fn merged_schema(parts: &[Part]) -> std::result::Result<Schema, String> {
    let first = parts.first().ok_or("nothing to merge")?;
    let names = |t: &Table| t.schema.columns().iter().map(|c| c.name.clone()).collect::<Vec<_>>();
    for p in parts.iter().skip(1) {
        if names(&p.table) != names(&first.table) {
            return Err(format!(
                "{} and {} have different columns ({} vs {}): they come from different kinds of runs",
                first.path.display(),
                p.path.display(),
                names(&first.table).join(","),
                names(&p.table).join(",")
            ));
        }
    }
    let columns = first.table.schema.columns().iter().enumerate().map(|(i, c)| {
        let types: HashSet<ColumnType> =
            parts.iter().filter_map(|p| p.table.schema.columns().get(i)).map(|c| c.ty).collect();
        let ty = match (types.len(), types.contains(&ColumnType::Str)) {
            (1, _) => c.ty,
            (_, true) => ColumnType::Str,
            _ => ColumnType::Float,
        };
        Column::new(&c.name, ty)
    });
    Ok(Schema::new(columns))
}

/// `row` of `from` with its values converted to `to`'s types (same column names).
fn conform(row: &Row, from: &Schema, to: &Schema) -> Row {
    let values = to.columns().iter().map(|c| {
        let v = row.get(from, &c.name).cloned().unwrap_or_default();
        match (c.ty, v) {
            (ColumnType::Float, Value::Int(i)) => Value::Float(i as f64),
            (ColumnType::Str, v @ (Value::Int(_) | Value::Float(_))) => Value::Str(cell_text(&v)),
            (_, v) => v,
        }
    });
    Row { values: values.collect() }
}

/// Errors unless every part's `run_meta.json` has the same `key`.
fn check_same(parts: &[Part], key: &str, what: &str) -> std::result::Result<(), String> {
    let first = parts.first().and_then(|p| p.meta.get(key));
    match parts.iter().find(|p| p.meta.get(key) != first) {
        Some(p) => Err(format!("{} was analyzed with other {what} than the first part", p.path.display())),
        None => Ok(()),
    }
}

/// The merged table's shard record: every part a shard of the same N (or none a shard);
/// missing and repeated shards are warnings.
fn shard_record(parts: &[Part], warnings: &mut Vec<String>) -> std::result::Result<Option<Json>, String> {
    let shards: Vec<&ShardMeta> = parts.iter().filter_map(|p| p.shard.as_ref()).collect();
    let Some(first) = shards.first() else { return Ok(None) };
    if shards.len() != parts.len() {
        return Err("some parts are shards (--shard) and some are whole runs: merge shards of one run together".into());
    }
    for (p, s) in parts.iter().zip(&shards) {
        if (s.count, s.tasks_total) != (first.count, first.tasks_total) {
            return Err(format!(
                "{} is shard {}/{} of {} tensors, the first part {}/{} of {}: not the same run",
                p.path.display(),
                s.index,
                s.count,
                s.tasks_total,
                first.index,
                first.count,
                first.tasks_total
            ));
        }
    }
    let mut present: Vec<usize> = shards.iter().map(|s| s.index).collect();
    present.sort_unstable();
    let before = present.len();
    present.dedup();
    if present.len() != before {
        warnings.push("a shard was given more than once".into());
    }
    let missing: Vec<usize> = (0..first.count).filter(|i| present.binary_search(i).is_err()).collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing.iter().map(usize::to_string).collect();
        warnings.push(format!("shards {} of {} are missing: the table is incomplete", list.join(", "), first.count));
    }
    Ok(Some(json!({ "count": first.count, "tasks_total": first.tasks_total, "merged": present, "missing": missing })))
}
