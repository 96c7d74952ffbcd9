//! The CSV sink.

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

use weightlens_core::{Error, Result, Row, Schema, Sink};

use super::atomic::AtomicFile;
use super::cell_text;

/// Writes rows as CSV with a header line.
#[derive(Debug)]
pub struct CsvSink {
    file: AtomicFile,
    writer: csv::Writer<BufWriter<File>>,
}

impl CsvSink {
    /// A sink that will write `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = AtomicFile::create(path)?;
        let writer = csv::Writer::from_writer(file.writer()?);
        Ok(CsvSink { file, writer })
    }

    fn err(&self, e: impl std::fmt::Display) -> Error {
        Error::Output { path: self.file.dest().to_path_buf(), message: e.to_string() }
    }
}

impl Sink for CsvSink {
    fn begin(&mut self, schema: &Schema) -> Result<()> {
        let names = schema.columns().iter().map(|c| c.name.as_str());
        self.writer.write_record(names).map_err(|e| self.err(e))
    }

    fn write_row(&mut self, row: &Row) -> Result<()> {
        self.writer.write_record(row.values.iter().map(cell_text)).map_err(|e| self.err(e))
    }

    fn finish(self: Box<Self>) -> Result<()> {
        let CsvSink { file, writer } = *self;
        let inner =
            writer.into_inner().map_err(|e| Error::Output { path: file.dest().into(), message: e.to_string() })?;
        inner.into_inner().map_err(|e| Error::io(file.dest(), e.into_error()))?;
        file.commit()
    }
}
