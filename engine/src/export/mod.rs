//! Output tables: CSV (default), JSONL and Parquet writers behind [`Sink`], all written to a
//! temporary file beside the destination and renamed into place by `finish` (an interrupted
//! run never leaves a truncated table under the final name), and a reader for all three
//! ([`read_table`]) used to validate what was written and by `merge`/`report`.

mod atomic;
mod csv;
mod jsonl;
mod parquet;
mod read;

use std::path::Path;

use weightlens_core::{ColumnType, Result, Row, Schema, Sink, Value};

pub use atomic::{remove_pending_for_exit, write_atomic};
pub use parquet::{arrow_schema, record_batch};
pub use read::{read_table, Table};

/// A table file format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Jsonl,
    /// Apache Parquet.
    Parquet,
}

impl OutputFormat {
    /// The format a file extension implies (`.csv`, `.jsonl`/`.json`/`.ndjson`, `.parquet`/`.pq`).
    pub fn from_path(path: &Path) -> Option<Self> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(OutputFormat::Csv),
            "jsonl" | "ndjson" | "json" => Some(OutputFormat::Jsonl),
            "parquet" | "pq" => Some(OutputFormat::Parquet),
            _ => None,
        }
    }

    /// The usual extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
        }
    }
}

/// A sink writing `format` to `path` (atomically, on `finish`).
pub fn open_sink(path: &Path, format: OutputFormat) -> Result<Box<dyn Sink>> {
    Ok(match format {
        OutputFormat::Csv => Box::new(csv::CsvSink::create(path)?),
        OutputFormat::Jsonl => Box::new(jsonl::JsonlSink::create(path)?),
        OutputFormat::Parquet => Box::new(parquet::ParquetSink::create(path)?),
    })
}

/// Writes `rows` of `schema` through `sink` and finishes it: the table appears under its name.
pub fn write_rows(mut sink: Box<dyn Sink>, schema: &Schema, rows: &[Row]) -> Result<()> {
    sink.begin(schema)?;
    sink.write_rows(rows)?;
    sink.finish()
}

/// A value as CSV text: empty for null, shortest round-trip float text (`NaN`, `inf`, `-inf`
/// for non-finite values, which pandas and numpy read back).
pub fn cell_text(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Int(v) => v.to_string(),
        Value::Float(v) if v.is_nan() => "NaN".into(),
        Value::Float(v) if v.is_infinite() => if *v > 0.0 { "inf" } else { "-inf" }.into(),
        Value::Float(v) => ryu::Buffer::new().format_finite(*v).to_string(),
        Value::Str(s) => s.clone(),
    }
}

/// A cell whose text is not of its column's type.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{text:?} is not {expected}: {reason}")]
pub struct CellError {
    /// The cell's text.
    pub text: String,
    /// "an integer" or "a number".
    pub expected: &'static str,
    /// The parser's message.
    pub reason: String,
}

/// Parses CSV text of a column of type `ty` (the inverse of [`cell_text`]).
pub fn parse_cell(text: &str, ty: ColumnType) -> std::result::Result<Value, CellError> {
    if text.is_empty() {
        return Ok(Value::Null);
    }
    let err = |expected, reason: &dyn std::fmt::Display| CellError {
        text: text.to_string(),
        expected,
        reason: reason.to_string(),
    };
    match ty {
        ColumnType::Str => Ok(Value::Str(text.to_string())),
        ColumnType::Int => text.parse().map(Value::Int).map_err(|e| err("an integer", &e)),
        ColumnType::Float => match text {
            "NaN" | "nan" => Ok(Value::Float(f64::NAN)),
            "inf" | "Infinity" => Ok(Value::Float(f64::INFINITY)),
            "-inf" | "-Infinity" => Ok(Value::Float(f64::NEG_INFINITY)),
            _ => text.parse().map(Value::Float).map_err(|e| err("a number", &e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_round_trip() {
        for v in [0.1, -2.5e-300, 1e21, 3.0, f64::MAX] {
            assert_eq!(parse_cell(&cell_text(&Value::Float(v)), ColumnType::Float), Ok(Value::Float(v)));
        }
        let nan = parse_cell(&cell_text(&Value::Float(f64::NAN)), ColumnType::Float).unwrap();
        assert!(nan.as_f64().unwrap().is_nan());
        assert_eq!(parse_cell("", ColumnType::Int), Ok(Value::Null));
        assert_eq!(cell_text(&Value::Float(f64::NEG_INFINITY)), "-inf");
    }
}
