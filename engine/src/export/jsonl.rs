//! The JSONL sink: one JSON object per row, keys in column order. JSON has no NaN or Infinity:
//! non-finite floats are written as `null` (the `nan_count` / `inf_count` columns say why).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use serde_json::{Map, Number, Value as Json};
use weightlens_core::{Error, Result, Row, Schema, Sink, Value};

use super::atomic::AtomicFile;

/// Writes rows as JSON lines.
#[derive(Debug)]
pub struct JsonlSink {
    file: AtomicFile,
    writer: BufWriter<File>,
    names: Vec<String>,
}

impl JsonlSink {
    /// A sink that will write `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = AtomicFile::create(path)?;
        let writer = file.writer()?;
        Ok(JsonlSink { file, writer, names: Vec::new() })
    }
}

/// A cell as JSON.
pub fn json_value(value: &Value) -> Json {
    match value {
        Value::Null => Json::Null,
        Value::Int(v) => Json::from(*v),
        Value::Float(v) => Number::from_f64(*v).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.clone()),
    }
}

impl Sink for JsonlSink {
    fn begin(&mut self, schema: &Schema) -> Result<()> {
        self.names = schema.columns().iter().map(|c| c.name.clone()).collect();
        Ok(())
    }

    fn write_row(&mut self, row: &Row) -> Result<()> {
        let object: Map<String, Json> = self.names.iter().cloned().zip(row.values.iter().map(json_value)).collect();
        serde_json::to_writer(&mut self.writer, &object)
            .map_err(std::io::Error::from)
            .and_then(|_| self.writer.write_all(b"\n"))
            .map_err(|e| Error::io(self.file.dest(), e))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let JsonlSink { file, writer, .. } = *self;
        writer.into_inner().map_err(|e| Error::io(file.dest(), e.into_error()))?;
        file.commit()
    }
}
