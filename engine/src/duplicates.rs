//! Tensors of one model holding the same bytes, without reading every byte twice.
//!
//! Each analyzed tensor gets a cheap [`Signature`] from what the run already has: dtype,
//! shape, stored length, its statistics (a pure function of the bytes, bit-identical for equal
//! bytes) and a few sampled byte windows. Only tensors whose signatures are equal can hold
//! equal bytes; those (usually none, or the copies themselves) are compared byte for byte.
//! The answer is exact: no hash decides that two tensors are equal.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use serde::Serialize;
use weightlens_core::table::columns;
use weightlens_core::{Row, Schema, TensorInfo, Value};

/// Tensors of one model whose stored bytes, dtype and shape are identical (e.g. tied
/// embeddings saved twice).
#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct Duplicate {
    /// The model holding them.
    pub model_path: String,
    /// Their names, sorted.
    pub tensors: Vec<String>,
    /// Bytes of each copy.
    pub bytes: u64,
}

/// What two tensors with equal bytes, dtype and shape necessarily share.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Signature {
    dtype: String,
    shape: Vec<u64>,
    len: u64,
    /// The statistics columns of every row of the tensor, as bits.
    stats: Vec<u64>,
    /// A hash of the sampled byte windows.
    samples: u64,
}

/// Byte windows sampled per tensor, spread evenly from the first byte to the last.
const WINDOWS: usize = 16;
/// Bytes per sampled window.
const WINDOW: usize = 32;

/// The statistics columns that go into a signature.
const STAT_COLUMNS: [&str; 6] =
    [columns::MEAN, columns::STD, columns::MIN, columns::MAX, columns::SPARSITY, columns::NAN_COUNT];

impl Signature {
    /// The signature of `info` holding `bytes`, analyzed into `rows` (one per expert when
    /// split).
    pub(crate) fn new(info: &TensorInfo, bytes: &[u8], rows: &[Row], schema: &Schema) -> Self {
        let stats = rows
            .iter()
            .flat_map(|row| STAT_COLUMNS.iter().map(move |c| row.get(schema, c).map_or(0, value_bits)))
            .collect();
        let mut h = DefaultHasher::new();
        for w in windows(bytes.len()) {
            h.write(&bytes[w]);
        }
        Signature {
            dtype: info.dtype_name.to_string(),
            shape: info.shape.clone(),
            len: bytes.len() as u64,
            stats,
            samples: h.finish(),
        }
    }
}

/// The sampled byte ranges of a buffer of `len` bytes (all of it when short).
fn windows(len: usize) -> impl Iterator<Item = std::ops::Range<usize>> {
    let whole = len <= WINDOWS * WINDOW;
    let count = if whole { 1 } else { WINDOWS };
    (0..count).map(move |k| {
        if whole {
            return 0..len;
        }
        // Starts spread over [0, len - WINDOW]: the first window at 0, the last at the end.
        let start = (len - WINDOW) / (WINDOWS - 1) * k;
        let start = if k == WINDOWS - 1 { len - WINDOW } else { start };
        start..start + WINDOW
    })
}

/// A cell as bits (NaN-safe, unlike comparing floats).
fn value_bits(v: &Value) -> u64 {
    match v {
        Value::Null => u64::MAX,
        Value::Int(i) => *i as u64,
        Value::Float(f) => f.to_bits(),
        Value::Str(s) => {
            let mut h = DefaultHasher::new();
            s.hash(&mut h);
            h.finish()
        }
    }
}

/// The tensors of each model with equal bytes: `signatures` holds `(model, tensor,
/// signature)` of every analyzed tensor; `same_bytes(model, a, b)` compares two tensors'
/// bytes (false when they cannot be read again). Returns `(model, tensors)` for every group of
/// two or more, each group in the order given.
pub(crate) fn find(
    signatures: Vec<(usize, usize, Signature)>,
    same_bytes: impl Fn(usize, usize, usize) -> bool,
) -> Vec<(usize, Vec<usize>)> {
    let mut buckets: HashMap<(usize, Signature), Vec<usize>> = HashMap::new();
    for (model, tensor, signature) in signatures {
        buckets.entry((model, signature)).or_default().push(tensor);
    }
    let mut groups = Vec::new();
    for ((model, _), tensors) in buckets.into_iter().filter(|(_, t)| t.len() > 1) {
        // Classes of equal bytes: each tensor is compared with one member of each class so far
        // (equality is transitive). Colliding signatures of different bytes are rare, so
        // there are few classes.
        let mut classes: Vec<Vec<usize>> = Vec::new();
        for t in tensors {
            match classes.iter_mut().find(|c| same_bytes(model, c[0], t)) {
                Some(class) => class.push(t),
                None => classes.push(vec![t]),
            }
        }
        groups.extend(classes.into_iter().filter(|c| c.len() > 1).map(|c| (model, c)));
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;
    use std::sync::Arc;
    use weightlens_core::{Dtype, Framework};

    fn info(shape: Vec<u64>) -> TensorInfo {
        let file: Arc<Path> = Arc::from(Path::new("m.safetensors"));
        TensorInfo::new("t", Dtype::U8, Framework::SAFETENSORS, shape, file, 0, 0)
    }

    /// Every window lies inside the buffer, the first starts at 0 and the last ends at the end.
    #[test]
    fn windows_cover_both_ends() {
        for len in [0, 1, 511, 512, 513, 4096, 1_000_003] {
            let w: Vec<_> = windows(len).collect();
            assert!(w.iter().all(|r| r.end <= len), "{len}");
            assert_eq!(w.first().map(|r| r.start), Some(0));
            assert_eq!(w.last().map(|r| r.end), Some(len));
        }
    }

    /// Bytes that differ only between the sampled windows give equal signatures; the byte
    /// comparison then tells them apart, and true copies are grouped.
    #[test]
    fn colliding_signatures_are_settled_by_the_bytes() {
        let schema = Schema::builtin_with(std::iter::empty());
        let len = 1 << 20;
        let a = vec![7u8; len];
        let mut b = a.clone();
        b[len / 2 + 1000] = 8;
        let c = a.clone();
        let tensors = [a, b, c];
        let i = info(vec![len as u64]);
        let sig = |t: &Vec<u8>| Signature::new(&i, t, &[], &schema);
        assert_eq!(sig(&tensors[0]), sig(&tensors[1]), "the difference is between windows");
        let signatures = (0..3).map(|t| (0, t, sig(&tensors[t]))).collect();
        let compared = std::cell::Cell::new(0);
        let groups = find(signatures, |_, x, y| {
            compared.set(compared.get() + 1);
            tensors[x] == tensors[y]
        });
        assert_eq!(groups, vec![(0, vec![0, 2])]);
        assert!(compared.get() <= 3);
    }

    /// Different shapes, lengths or models never meet, and distinct signatures cost no byte
    /// comparison.
    #[test]
    fn different_signatures_are_never_compared() {
        let schema = Schema::builtin_with(std::iter::empty());
        let bytes = vec![0u8; 64];
        let signatures = vec![
            (0, 0, Signature::new(&info(vec![64]), &bytes, &[], &schema)),
            (0, 1, Signature::new(&info(vec![8, 8]), &bytes, &[], &schema)),
            (1, 2, Signature::new(&info(vec![64]), &bytes, &[], &schema)),
            (0, 3, Signature::new(&info(vec![64]), &bytes[..32], &[], &schema)),
        ];
        let groups = find(signatures, |_, _, _| panic!("no signatures collide"));
        assert!(groups.is_empty());
    }
}
