//! Finds the tensors in an unpickled object and names them by their key path (docs/output-spec.md "Names":
//! `{"model": {"a.weight": t}, "extra": [t0, t1]}` gives `model.a.weight`, `extra.0`, `extra.1`),
//! and keeps simple non-tensor values (epoch, config scalars) as metadata.
//!
//! Opaque objects are searched too: their call arguments (by position), their `BUILD` state
//! (its keys directly, as attributes) and anything appended or set on them. A tensor reached
//! by several paths (tied weights) is reported under each name.

use std::path::Path;

use weightlens_core::{Error, Result};

use super::pickle::{ArrayRef, Id, Node, Parsed, TensorRef};

/// Deepest nesting searched.
pub const MAX_DEPTH: usize = 256;
/// Most object visits (shared sub-objects are visited once per path that reaches them).
pub const MAX_VISITS: usize = 1 << 22;
/// Most metadata values kept.
pub const MAX_VALUES: usize = 1000;
/// Longest string kept as a metadata value.
const MAX_VALUE_CHARS: usize = 256;

/// A tensor found in the object, with its name.
#[derive(Clone, Debug, PartialEq)]
pub struct Found {
    /// The key path.
    pub name: String,
    /// The tensor.
    pub tensor: TensorRef,
}

/// A numpy array found in the object, with its name.
#[derive(Clone, Debug, PartialEq)]
pub struct FoundArray {
    /// The key path.
    pub name: String,
    /// The array.
    pub array: ArrayRef,
}

/// What the object holds.
#[derive(Debug, Default)]
pub struct Contents {
    /// Tensors in the order of the object.
    pub tensors: Vec<Found>,
    /// numpy arrays in the order of the object.
    pub arrays: Vec<FoundArray>,
    /// Simple values by key path.
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Names that two different paths both produced; the first one is kept.
    pub duplicates: Vec<String>,
    /// Nodes the search visited (bounded by [`MAX_VISITS`]).
    pub visits: usize,
}

/// Searches `parsed` for tensors. `root_name` names a tensor that is the whole object.
pub fn walk(parsed: &Parsed, root_name: &str, path: &Path) -> Result<Contents> {
    let n = parsed.nodes.len();
    let mut w = Walker {
        parsed,
        path,
        visits: 0,
        on_path: vec![false; n],
        depth: 0,
        barren: vec![false; n],
        names: Vec::new(),
        out: Contents::default(),
    };
    w.visit(parsed.root)?;
    let mut seen = std::collections::HashSet::new();
    let mut out = w.out;
    out.visits = w.visits;
    let mut keep = |name: &mut String| {
        if name.is_empty() {
            *name = root_name.to_string();
        }
        let fresh = seen.insert(name.clone());
        if !fresh {
            out.duplicates.push(name.clone());
        }
        fresh
    };
    out.tensors.retain_mut(|f| keep(&mut f.name));
    out.arrays.retain_mut(|f| keep(&mut f.name));
    Ok(out)
}

struct Walker<'a> {
    parsed: &'a Parsed,
    path: &'a Path,
    visits: usize,
    /// Containers on the current path, by id (cycle detection in O(1)).
    on_path: Vec<bool>,
    depth: usize,
    /// Containers already searched that held no tensor and gave no value: shared again through
    /// the memo (a reference bomb of empty containers is exponential in paths, linear in
    /// nodes), they are not searched again.
    barren: Vec<bool>,
    names: Vec<String>,
    out: Contents,
}

impl Walker<'_> {
    fn name(&self) -> String {
        self.names.join(".")
    }

    fn visit(&mut self, id: Id) -> Result<()> {
        self.visits += 1;
        if self.visits > MAX_VISITS {
            return Err(Error::malformed(
                self.path,
                None,
                format!("pickled object has more than {MAX_VISITS} paths to search (a reference bomb?)"),
            ));
        }
        if self.depth >= MAX_DEPTH {
            return Err(Error::malformed(self.path, None, format!("pickled object nests deeper than {MAX_DEPTH}")));
        }
        // A container reached again inside itself (a cycle) holds nothing new.
        if self.on_path.get(id).copied().unwrap_or(false) || self.barren.get(id).copied().unwrap_or(false) {
            return Ok(());
        }
        let parsed = self.parsed;
        match parsed.node(id) {
            Node::Tensor(t) => self.out.tensors.push(Found { name: self.name(), tensor: (**t).clone() }),
            Node::Array(a) => self.out.arrays.push(FoundArray { name: self.name(), array: (**a).clone() }),
            Node::Dict(pairs) => self.within(id, |w| w.pairs(pairs))?,
            Node::List(items) | Node::Tuple(items) | Node::Set(items) => self.within(id, |w| w.items(items))?,
            Node::Object(obj) => self.within(id, |w| {
                w.items(&obj.args)?;
                if let Some(state) = obj.state {
                    w.visit(state)?;
                }
                w.items(&obj.items)?;
                w.pairs(&obj.entries)
            })?,
            Node::Int(v) => self.value(serde_json::Value::from(*v)),
            Node::Float(v) => self.value(serde_json::Value::from(*v)),
            Node::Bool(v) => self.value(serde_json::Value::from(*v)),
            Node::BigInt(v) => self.value(serde_json::Value::from(v.clone())),
            Node::Str(s) if s.chars().count() <= MAX_VALUE_CHARS => self.value(serde_json::Value::from(s.clone())),
            _ => {}
        }
        Ok(())
    }

    fn within(&mut self, id: Id, f: impl FnOnce(&mut Self) -> Result<()>) -> Result<()> {
        let before = (self.out.tensors.len() + self.out.arrays.len(), self.out.values.len());
        self.set(id, true);
        self.depth += 1;
        let result = f(self);
        self.depth -= 1;
        self.set(id, false);
        if result.is_ok() && before == (self.out.tensors.len() + self.out.arrays.len(), self.out.values.len()) {
            if let Some(b) = self.barren.get_mut(id) {
                *b = true;
            }
        }
        result
    }

    fn set(&mut self, id: Id, on_path: bool) {
        if let Some(slot) = self.on_path.get_mut(id) {
            *slot = on_path;
        }
    }

    fn items(&mut self, items: &[Id]) -> Result<()> {
        for (i, &item) in items.iter().enumerate() {
            self.names.push(i.to_string());
            let result = self.visit(item);
            self.names.pop();
            result?;
        }
        Ok(())
    }

    fn pairs(&mut self, pairs: &[(Id, Id)]) -> Result<()> {
        for &(key, value) in pairs {
            self.names.push(self.key(key));
            let result = self.visit(value);
            self.names.pop();
            result?;
        }
        Ok(())
    }

    /// A dict key as a name component.
    fn key(&self, key: Id) -> String {
        match self.parsed.node(key) {
            Node::Str(s) => s.clone(),
            Node::Int(i) => i.to_string(),
            Node::BigInt(s) => s.clone(),
            Node::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Node::Float(f) => f.to_string(),
            Node::None => "None".to_string(),
            Node::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
            Node::Global(g) => format!("{}.{}", g.module, g.name),
            _ => "?".to_string(),
        }
    }

    fn value(&mut self, value: serde_json::Value) {
        if self.out.values.len() < MAX_VALUES && !self.names.is_empty() {
            self.out.values.insert(self.name(), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::pickle;
    use super::*;

    fn contents(bytes: &[u8]) -> Result<Contents> {
        let p = pickle::parse(bytes, Path::new("t.pkl"), 0)?;
        walk(&p, "root", Path::new("t.pkl"))
    }

    #[test]
    fn keeps_simple_values_by_key_path() {
        let c = contents(b"\x80\x02}(X\x05\x00\x00\x00epochK\x03X\x03\x00\x00\x00cfg}X\x02\x00\x00\x00lrG?\xb9\x99\x99\x99\x99\x99\x9asu.")
            .unwrap();
        assert_eq!(c.values["epoch"], 3);
        assert_eq!(c.values["cfg.lr"], 0.1);
        assert!(c.tensors.is_empty());
    }

    #[test]
    fn cycles_end_and_depth_is_bounded() {
        // l = []; l.append(l)
        assert!(contents(b"\x80\x02]q\x00h\x00a.").is_ok());
        let mut deep = b"\x80\x02".to_vec();
        deep.extend(std::iter::repeat_n(b']', MAX_DEPTH + 10));
        deep.extend(std::iter::repeat_n(b'a', MAX_DEPTH + 9));
        deep.push(b'.');
        assert!(contents(&deep).unwrap_err().to_string().contains("deeper"));
    }

    #[test]
    fn reference_bombs_are_bounded() {
        // x0 = []; x(k+1) = [xk, xk, xk, xk]: 4^40 paths through 40 objects.
        let mut bomb = b"\x80\x02]q\x00".to_vec();
        for k in 0..40u8 {
            bomb.extend([b'(', b'h', k, b'h', k, b'h', k, b'h', k, b'l', b'q', k + 1]);
        }
        bomb.push(b'.');
        // The shared lists hold nothing: each is searched once, not once per path.
        let c = contents(&bomb).unwrap();
        assert!(c.visits < 1000 && c.tensors.is_empty(), "{} visits", c.visits);
        // The same with a value at the bottom: searched per path until MAX_VALUES values are
        // recorded, then pruned.
        let mut bomb = b"\x80\x02]q\x00K\x07a".to_vec();
        for k in 0..40u8 {
            bomb.extend([b'(', b'h', k, b'h', k, b'h', k, b'h', k, b'l', b'q', k + 1]);
        }
        bomb.push(b'.');
        let c = contents(&bomb).unwrap();
        assert_eq!(c.values.len(), MAX_VALUES);
        assert!(c.visits < 100 * MAX_VALUES, "{} visits", c.visits);
    }
}
