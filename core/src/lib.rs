//! Core types of weightlens.
//!
//! The pipeline is `TensorSource -> TensorAnalyzer -> Sink`:
//! - a [`TensorSource`] lists [`TensorInfo`]s from file headers and hands out a borrowed
//!   [`TensorView`] per tensor;
//! - a [`TensorAnalyzer`] turns a view into metric [`Value`]s for its declared [`Column`]s;
//! - a [`Sink`] writes [`Row`]s of a [`Schema`] and commits the output atomically.
//!
//! This crate has no knowledge of any file format: readers live in `weightlens-readers`.

#![warn(missing_docs)]

pub mod analyzer;
pub mod decode;
pub mod dtype;
pub mod error;
pub mod naming;
pub mod reader;
pub mod source;
pub mod table;
pub mod tensor;

pub use analyzer::TensorAnalyzer;
pub use dtype::{ByteOrder, Dtype, QuantType};
pub use error::{Error, ErrorKind, Result};
pub use naming::{classify, classify_in, BlockType, Classification, Stack};
pub use reader::{FormatReader, Identify, OpenOptions, DEFAULT_MAX_TENSOR_BYTES};
pub use source::QuantFacts;
pub use source::{DtypeNames, Framework, TensorSource};
pub use table::{Column, ColumnType, Row, Schema, Sink, Value};
pub use tensor::{BlockDecoder, DecodeError, ElementDecoder, ReleaseFn, TensorInfo, TensorView};
