//! The Parquet sink: rows are collected and written as record batches by arrow's
//! `ArrowWriter`, whose `close` writes the footer (without it the file is unreadable).

use std::path::Path;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema as ArrowSchema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use weightlens_core::{ColumnType, Error, Result, Row, Schema, Sink, Value};

use super::atomic::AtomicFile;

/// Rows per record batch / row group.
const BATCH_ROWS: usize = 8192;

/// Writes rows as Parquet.
#[derive(Debug)]
pub struct ParquetSink {
    file: AtomicFile,
    schema: Schema,
    rows: Vec<Row>,
}

impl ParquetSink {
    /// A sink that will write `path`.
    pub fn create(path: &Path) -> Result<Self> {
        Ok(ParquetSink { file: AtomicFile::create(path)?, schema: Schema::default(), rows: Vec::new() })
    }
}

/// The arrow schema of a table schema (every column nullable).
pub fn arrow_schema(schema: &Schema) -> Arc<ArrowSchema> {
    let fields = schema.columns().iter().map(|c| {
        let ty = match c.ty {
            ColumnType::Int => DataType::Int64,
            ColumnType::Float => DataType::Float64,
            ColumnType::Str => DataType::Utf8,
        };
        Field::new(&c.name, ty, true)
    });
    Arc::new(ArrowSchema::new(fields.collect::<Vec<_>>()))
}

/// The rows as one arrow record batch with the columns, types and order of the Parquet output
/// (for programs that keep the table in memory, such as the Python package).
pub fn record_batch(schema: &Schema, rows: &[Row]) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    batch(schema, &arrow_schema(schema), rows)
}

fn batch(
    schema: &Schema,
    arrow: &Arc<ArrowSchema>,
    rows: &[Row],
) -> std::result::Result<RecordBatch, arrow_schema::ArrowError> {
    let columns = schema.columns().iter().enumerate().map(|(i, c)| -> ArrayRef {
        let cells = rows.iter().map(move |r| r.values.get(i).unwrap_or(&Value::Null));
        match c.ty {
            ColumnType::Int => Arc::new(cells.map(Value::as_i64).collect::<Int64Array>()),
            ColumnType::Float => Arc::new(cells.map(Value::as_f64).collect::<Float64Array>()),
            ColumnType::Str => Arc::new(cells.map(Value::as_str).collect::<StringArray>()),
        }
    });
    RecordBatch::try_new(arrow.clone(), columns.collect())
}

impl Sink for ParquetSink {
    fn begin(&mut self, schema: &Schema) -> Result<()> {
        self.schema = schema.clone();
        Ok(())
    }

    fn write_row(&mut self, row: &Row) -> Result<()> {
        self.rows.push(row.clone());
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let ParquetSink { file, schema, rows } = *self;
        let err = |m: String| Error::Output { path: file.dest().to_path_buf(), message: m };
        let arrow = arrow_schema(&schema);
        let props = WriterProperties::builder().set_compression(Compression::SNAPPY).build();
        let mut writer =
            ArrowWriter::try_new(file.writer()?, arrow.clone(), Some(props)).map_err(|e| err(e.to_string()))?;
        for chunk in rows.chunks(BATCH_ROWS) {
            let b = batch(&schema, &arrow, chunk).map_err(|e| err(e.to_string()))?;
            writer.write(&b).map_err(|e| err(e.to_string()))?;
        }
        let inner = writer.into_inner().map_err(|e| err(e.to_string()))?;
        inner.into_inner().map_err(|e| Error::io(file.dest(), e.into_error()))?;
        file.commit()
    }
}
