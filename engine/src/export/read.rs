//! Reading tables back (any of the three formats), for validation, `merge` and `report`.

use std::path::Path;

use arrow_array::{Array, Float64Array, Int64Array, StringArray};
use arrow_schema::DataType;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use weightlens_core::table::{BUILTIN_COLUMNS, OPTIONAL_COLUMNS};
use weightlens_core::{Column, ColumnType, Error, Result, Row, Schema, Value};

use super::{parse_cell, OutputFormat};

/// A table read from a file.
#[derive(Clone, Debug, Default)]
pub struct Table {
    /// Its columns.
    pub schema: Schema,
    /// Its rows.
    pub rows: Vec<Row>,
}

/// Reads a table written by weightlens (format from the extension, else from the content).
pub fn read_table(path: &Path) -> Result<Table> {
    let err = |m: String| Error::Output { path: path.to_path_buf(), message: m };
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let format = OutputFormat::from_path(path).unwrap_or(if bytes.starts_with(b"PAR1") {
        OutputFormat::Parquet
    } else if bytes.starts_with(b"{") {
        OutputFormat::Jsonl
    } else {
        OutputFormat::Csv
    });
    match format {
        OutputFormat::Csv => read_csv(&bytes).map_err(err),
        OutputFormat::Jsonl => read_jsonl(&bytes).map_err(err),
        OutputFormat::Parquet => {
            let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
            read_parquet(file).map_err(err)
        }
    }
}

/// The type of a column: built-in columns have theirs; others are inferred from the cells
/// (numbers are floats, anything else text).
fn column_type<'a>(name: &str, mut cells: impl Iterator<Item = &'a str>) -> ColumnType {
    if let Some((_, ty)) = BUILTIN_COLUMNS.iter().chain(OPTIONAL_COLUMNS).find(|(n, _)| *n == name) {
        return *ty;
    }
    let numeric = cells.all(|c| parse_cell(c, ColumnType::Float).is_ok());
    if numeric {
        ColumnType::Float
    } else {
        ColumnType::Str
    }
}

fn read_csv(bytes: &[u8]) -> std::result::Result<Table, String> {
    let mut reader = csv::Reader::from_reader(bytes);
    let names: Vec<String> = reader.headers().map_err(|e| e.to_string())?.iter().map(String::from).collect();
    let records: Vec<csv::StringRecord> =
        reader.records().collect::<std::result::Result<_, _>>().map_err(|e| e.to_string())?;
    let schema = Schema::new(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| Column::new(n, column_type(n, records.iter().map(|r| r.get(i).unwrap_or(""))))),
    );
    let rows = records
        .iter()
        .enumerate()
        .map(|(line, r)| {
            let values = schema.columns().iter().enumerate().map(|(i, c)| {
                parse_cell(r.get(i).unwrap_or(""), c.ty).map_err(|e| format!("row {}: {}: {e}", line + 1, c.name))
            });
            values.collect::<std::result::Result<Vec<_>, _>>().map(|values| Row { values })
        })
        .collect::<std::result::Result<_, _>>()?;
    Ok(Table { schema, rows })
}

fn read_jsonl(bytes: &[u8]) -> std::result::Result<Table, String> {
    let objects: Vec<serde_json::Map<String, serde_json::Value>> = bytes
        .split(|&b| b == b'\n')
        .filter(|l| !l.iter().all(u8::is_ascii_whitespace))
        .enumerate()
        .map(|(i, l)| serde_json::from_slice(l).map_err(|e| format!("line {}: {e}", i + 1)))
        .collect::<std::result::Result<_, _>>()?;
    let names: Vec<String> = objects.first().map(|o| o.keys().cloned().collect()).unwrap_or_default();
    let schema = Schema::new(names.iter().map(|n| {
        let cells = objects.iter().filter_map(|o| match o.get(n) {
            Some(serde_json::Value::String(_)) => Some("x"),
            _ => None,
        });
        let ty = column_type(n, cells);
        Column::new(n, ty)
    }));
    let rows = objects
        .iter()
        .map(|o| {
            let values = schema.columns().iter().map(|c| match (o.get(&c.name), c.ty) {
                (None | Some(serde_json::Value::Null), _) => Value::Null,
                (Some(v), ColumnType::Int) => v.as_i64().map_or(Value::Null, Value::Int),
                (Some(v), ColumnType::Float) => v.as_f64().map_or(Value::Null, Value::Float),
                (Some(serde_json::Value::String(s)), ColumnType::Str) => Value::Str(s.clone()),
                (Some(v), ColumnType::Str) => Value::Str(v.to_string()),
            });
            Row { values: values.collect() }
        })
        .collect();
    Ok(Table { schema, rows })
}

fn read_parquet(file: std::fs::File) -> std::result::Result<Table, String> {
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| e.to_string())?;
    let arrow = builder.schema().clone();
    let schema = Schema::new(arrow.fields().iter().map(|f| {
        let ty = match f.data_type() {
            DataType::Int64 | DataType::Int32 => ColumnType::Int,
            DataType::Float64 | DataType::Float32 => ColumnType::Float,
            _ => ColumnType::Str,
        };
        Column::new(f.name(), ty)
    }));
    let mut rows = Vec::new();
    for batch in builder.build().map_err(|e| e.to_string())? {
        let batch = batch.map_err(|e| e.to_string())?;
        let start = rows.len();
        rows.extend((0..batch.num_rows()).map(|_| Row::nulls(schema.len())));
        for (c, column) in batch.columns().iter().enumerate() {
            let any = column.as_any();
            for (r, row) in rows[start..].iter_mut().enumerate() {
                if column.is_null(r) {
                    continue;
                }
                row.values[c] = if let Some(a) = any.downcast_ref::<Int64Array>() {
                    Value::Int(a.value(r))
                } else if let Some(a) = any.downcast_ref::<Float64Array>() {
                    Value::Float(a.value(r))
                } else if let Some(a) = any.downcast_ref::<StringArray>() {
                    Value::Str(a.value(r).to_string())
                } else {
                    return Err(format!("column {} has unsupported type {}", c, column.data_type()));
                };
            }
        }
    }
    Ok(Table { schema, rows })
}
