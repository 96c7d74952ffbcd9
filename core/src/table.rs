//! The output table: [`Column`]s, [`Schema`], [`Row`]s of [`Value`]s, and the [`Sink`] trait.
//!
//! The built-in columns and their order are a public interface (docs/output-spec.md "Columns"): the seed
//! columns first, then the further built-in columns, then metrics of other analyzers (plugins).

use std::collections::HashMap;

use crate::error::Result;
use crate::naming::Stack;

/// The type of a column's values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// Signed integer.
    Int,
    /// Floating point (NaN and +/-Inf allowed).
    Float,
    /// Text.
    Str,
}

/// One column of the output table.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Column {
    /// The column name (a public interface: `mean`, `rank`, `kurtosis.l2_norm`...).
    pub name: String,
    /// The value type.
    pub ty: ColumnType,
}

impl Column {
    /// A column named `name` of type `ty`.
    pub fn new(name: impl Into<String>, ty: ColumnType) -> Self {
        Column { name: name.into(), ty }
    }
}

/// One cell. `Null` is "not applicable" and is written as an empty cell / JSON null.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// Not applicable.
    #[default]
    Null,
    /// An integer.
    Int(i64),
    /// A float (NaN and infinities are legitimate values).
    Float(f64),
    /// A string.
    Str(String),
}

impl Value {
    /// The value as an integer, if it is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// The value as a float (integers widen).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(v) => Some(*v),
            Value::Int(v) => Some(*v as f64),
            _ => None,
        }
    }

    /// The value as a string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(v) => Some(v),
            _ => None,
        }
    }

    /// True for [`Value::Null`].
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }
}

impl From<Option<f64>> for Value {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Value::Null, Value::Float)
    }
}

impl From<Option<u64>> for Value {
    fn from(v: Option<u64>) -> Self {
        match v.and_then(|v| i64::try_from(v).ok()) {
            Some(v) => Value::Int(v),
            None => Value::Null,
        }
    }
}

/// Names of the built-in columns, in table order.
/// docs/output-spec.md defines each value precisely.
pub mod columns {
    /// The path naming the model (a file, an index or a directory).
    pub const MODEL_PATH: &str = "model_path";
    /// The model's id (`org/name` for hub models, else derived from its path).
    pub const MODEL_ID: &str = "model_id";
    /// The model's revision (a commit hash), null when unknown.
    pub const REVISION: &str = "revision";
    /// The tensor's name as stored.
    pub const PARAM_NAME: &str = "param_name";
    /// The layer number from the name, null outside the layers.
    pub const LAYER_INDEX: &str = "layer_index";
    /// The kind of block ([`crate::BlockType`]).
    pub const BLOCK_TYPE: &str = "block_type";
    /// The shape, e.g. `[4096, 4096]`.
    pub const SHAPE: &str = "shape";
    /// `shape[0]` of the matrix view, null for 0-d and 1-d tensors.
    pub const ROWS: &str = "rows";
    /// The product of `shape[1..]`, null for 0-d and 1-d tensors.
    pub const COLS: &str = "cols";
    /// The numerical rank of the matrix view.
    pub const RANK: &str = "rank";
    /// The mean of all elements (NaN when the tensor holds NaN).
    pub const MEAN: &str = "mean";
    /// The population standard deviation.
    pub const STD: &str = "std";
    /// The population variance.
    pub const VAR: &str = "var";
    /// The fraction of elements with `abs(x) <= zero_eps`.
    pub const SPARSITY: &str = "sparsity";
    /// The storage type as the file names it.
    pub const DTYPE: &str = "dtype";
    /// The run's start time (RFC 3339 UTC), the same in every row.
    pub const CREATED_AT: &str = "created_at";
    /// The stack (tower) of the tensor: empty for a model's one stack, else `encoder`, `decoder`,
    /// `vision`, `audio`, `projector` or `mtp` ([`crate::Stack`]).
    pub const STACK: &str = "stack";
    /// The framework of the file (`safetensors`, `pt`, `gguf`, `npz`, `npy`).
    pub const FRAMEWORK: &str = "framework";
    /// Where the analysis ran (`cpu`).
    pub const DEVICE: &str = "device";
    /// The number of elements.
    pub const NUMEL: &str = "numel";
    /// The smallest element (docs/output-spec.md says how NaN and Inf count).
    pub const MIN: &str = "min";
    /// The largest element (docs/output-spec.md says how NaN and Inf count).
    pub const MAX: &str = "max";
    /// Elements that are NaN.
    pub const NAN_COUNT: &str = "nan_count";
    /// Elements that are infinite.
    pub const INF_COUNT: &str = "inf_count";
    /// The mean of the finite elements.
    pub const FINITE_MEAN: &str = "finite_mean";
    /// How `rank` was computed.
    pub const RANK_METHOD: &str = "rank_method";
    /// The file holding the tensor's data (one shard of a sharded model).
    pub const FILE: &str = "file";
    /// The expert number of a per-expert row (`--split-experts` only).
    pub const EXPERT_INDEX: &str = "expert_index";
    /// The quantization scheme of a quantized checkpoint's weight (`gptq`, `bnb-nf4`, ...).
    pub const QUANT_SCHEME: &str = "quant_scheme";
    /// Bits per stored code of a quantized weight.
    pub const BITS: &str = "bits";
    /// Elements sharing one scale of a quantized weight.
    pub const GROUP_SIZE: &str = "group_size";
    /// Bytes stored for the tensor (all components of a quantized weight).
    pub const STORED_BYTES: &str = "stored_bytes";
    /// `stored_bytes * 8 / numel`.
    pub const BITS_PER_WEIGHT: &str = "bits_per_weight";
}

/// The built-in columns in table order: the seed columns exactly as docs/output-spec.md lists them, then the
/// further built-in columns. Adding a built-in column means adding it here (and filling it where
/// rows are built or in a built-in analyzer).
pub const BUILTIN_COLUMNS: &[(&str, ColumnType)] = {
    use columns::*;
    use ColumnType::*;
    &[
        (MODEL_PATH, Str),
        (MODEL_ID, Str),
        (REVISION, Str),
        (PARAM_NAME, Str),
        (LAYER_INDEX, Int),
        (BLOCK_TYPE, Str),
        (SHAPE, Str),
        (ROWS, Int),
        (COLS, Int),
        (RANK, Int),
        (MEAN, Float),
        (STD, Float),
        (VAR, Float),
        (SPARSITY, Float),
        (DTYPE, Str),
        (CREATED_AT, Str),
        (STACK, Str),
        (FRAMEWORK, Str),
        (DEVICE, Str),
        (NUMEL, Int),
        (MIN, Float),
        (MAX, Float),
        (NAN_COUNT, Int),
        (INF_COUNT, Int),
        (FINITE_MEAN, Float),
        (RANK_METHOD, Str),
        (FILE, Str),
        (QUANT_SCHEME, Str),
        (BITS, Int),
        (GROUP_SIZE, Int),
        (STORED_BYTES, Int),
        (BITS_PER_WEIGHT, Float),
    ]
};

/// Built-in columns present only when an option asks for them; they follow
/// [`BUILTIN_COLUMNS`] in this order.
pub const OPTIONAL_COLUMNS: &[(&str, ColumnType)] = &[(columns::EXPERT_INDEX, ColumnType::Int)];

/// The number of seed columns at the start of [`BUILTIN_COLUMNS`].
pub const SEED_COLUMN_COUNT: usize = 16;

/// An ordered list of columns with lookup by name.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Schema {
    columns: Vec<Column>,
    index: HashMap<String, usize>,
}

impl Schema {
    /// A schema of `columns`; a repeated name keeps its first position.
    pub fn new(columns: impl IntoIterator<Item = Column>) -> Self {
        let mut schema = Schema::default();
        for c in columns {
            schema.push(c);
        }
        schema
    }

    /// The built-in columns followed by `extra` (analyzer/plugin columns not built in).
    pub fn builtin_with(extra: impl IntoIterator<Item = Column>) -> Self {
        let builtin = BUILTIN_COLUMNS.iter().map(|(n, t)| Column::new(*n, *t));
        Schema::new(builtin.chain(extra))
    }

    /// Appends `column` unless a column of that name exists; returns its index either way.
    pub fn push(&mut self, column: Column) -> usize {
        if let Some(&i) = self.index.get(&column.name) {
            return i;
        }
        let i = self.columns.len();
        self.index.insert(column.name.clone(), i);
        self.columns.push(column);
        i
    }

    /// The columns in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The number of columns.
    pub fn len(&self) -> usize {
        self.columns.len()
    }

    /// True when there are no columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The position of the column named `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// One row: a value per schema column.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Row {
    /// The values, aligned with the schema's columns.
    pub values: Vec<Value>,
}

impl Row {
    /// A row of `len` nulls.
    pub fn nulls(len: usize) -> Self {
        Row { values: vec![Value::Null; len] }
    }

    /// The value of column `name` under `schema`.
    pub fn get<'r>(&'r self, schema: &Schema, name: &str) -> Option<&'r Value> {
        self.values.get(schema.index_of(name)?)
    }

    /// Sets column `name` (ignored when the schema has no such column).
    pub fn set(&mut self, schema: &Schema, name: &str, value: Value) {
        if let Some(slot) = schema.index_of(name).and_then(|i| self.values.get_mut(i)) {
            *slot = value;
        }
    }
}

/// Sorts rows as docs/output-spec.md "Order" says: rows with a `layer_index` first, by `stack` (in
/// [`crate::Stack`] order: the main stack, encoder, decoder, vision, audio, projector, mtp) and
/// then numeric layer ascending; rows without a layer last; ties in their current order (the
/// sort is stable).
pub fn sort_rows(schema: &Schema, rows: &mut [Row]) {
    let Some(keys) = OrderColumns::of(schema) else { return };
    rows.sort_by_key(|r| keys.key(r));
}

/// The permutation [`sort_rows`] applies: `rows[order[0]]` comes first (for callers that keep
/// data aligned with the rows).
pub fn sorted_order(schema: &Schema, rows: &[Row]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..rows.len()).collect();
    if let Some(keys) = OrderColumns::of(schema) {
        order.sort_by_key(|&r| rows.get(r).map(|row| keys.key(row)));
    }
    order
}

/// The columns the row order reads.
struct OrderColumns {
    layer: usize,
    stack: Option<usize>,
}

impl OrderColumns {
    fn of(schema: &Schema) -> Option<Self> {
        Some(OrderColumns { layer: schema.index_of(columns::LAYER_INDEX)?, stack: schema.index_of(columns::STACK) })
    }

    /// Layer rows first by stack then layer; rows without a layer last. A stack value this
    /// version does not know (a table read back) sorts after the known ones.
    fn key(&self, row: &Row) -> (u8, u8, i64) {
        let Some(layer) = row.values.get(self.layer).and_then(Value::as_i64) else { return (1, 0, 0) };
        let stack = match self.stack.and_then(|i| row.values.get(i)) {
            None | Some(Value::Null) => Stack::Main.rank(),
            Some(v) => v.as_str().and_then(Stack::from_column).map_or(u8::MAX, Stack::rank),
        };
        (0, stack, layer)
    }
}

/// Where rows go: a table file, a terminal, a test buffer.
///
/// `finish` commits the output (for files: the temporary file is renamed into place); a sink
/// dropped without `finish` leaves no output behind.
pub trait Sink {
    /// Starts the output with `schema`.
    fn begin(&mut self, schema: &Schema) -> Result<()>;
    /// Writes one row.
    fn write_row(&mut self, row: &Row) -> Result<()>;
    /// Writes every row of `rows` (override to batch).
    fn write_rows(&mut self, rows: &[Row]) -> Result<()> {
        rows.iter().try_for_each(|r| self.write_row(r))
    }
    /// Completes and commits the output.
    fn finish(self: Box<Self>) -> Result<()>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_columns_come_first_in_spec_order() {
        let schema = Schema::builtin_with([]);
        let names: Vec<&str> = schema.columns()[..SEED_COLUMN_COUNT].iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names.join(","),
            "model_path,model_id,revision,param_name,layer_index,block_type,shape,rows,cols,rank,mean,std,var,sparsity,dtype,created_at"
        );
    }

    #[test]
    fn rows_sort_numerically_with_non_layer_rows_last() {
        let schema = Schema::new([Column::new("layer_index", ColumnType::Int), Column::new("n", ColumnType::Str)]);
        let row =
            |l: Option<i64>, n: &str| Row { values: vec![l.map_or(Value::Null, Value::Int), Value::Str(n.into())] };
        let mut rows =
            vec![row(None, "emb"), row(Some(10), "a"), row(Some(2), "b"), row(None, "head"), row(Some(2), "c")];
        let permutation = sorted_order(&schema, &rows);
        sort_rows(&schema, &mut rows);
        let order: Vec<&str> = rows.iter().map(|r| r.values[1].as_str().unwrap()).collect();
        assert_eq!(permutation, [2, 4, 1, 0, 3]);
        assert_eq!(order, ["b", "c", "a", "emb", "head"]);
    }

    #[test]
    fn rows_sort_by_stack_then_layer() {
        let schema = Schema::new([
            Column::new("layer_index", ColumnType::Int),
            Column::new("stack", ColumnType::Str),
            Column::new("n", ColumnType::Str),
        ]);
        let row = |l: Option<i64>, s: &str, n: &str| Row {
            values: vec![l.map_or(Value::Null, Value::Int), Value::Str(s.into()), Value::Str(n.into())],
        };
        let mut rows = vec![
            row(Some(1), "decoder", "d1"),
            row(None, "encoder", "enc_norm"),
            row(Some(0), "vision", "v0"),
            row(Some(3), "encoder", "e3"),
            row(Some(0), "decoder", "d0"),
            row(Some(5), "", "m5"),
            row(Some(0), "encoder", "e0"),
            row(None, "", "emb"),
        ];
        sort_rows(&schema, &mut rows);
        let order: Vec<&str> = rows.iter().map(|r| r.values[2].as_str().unwrap()).collect();
        assert_eq!(order, ["m5", "e0", "e3", "d0", "d1", "v0", "enc_norm", "emb"]);
    }
}
