//! `weightlens.open` (a lazy model like `safetensors.safe_open`) and `weightlens.ls`.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};
use weightlens_core::{ByteOrder, TensorSource};
use weightlens_engine::dump::{decode_tensor, dump_dtype};
use weightlens_engine::listing::{list, list_paths_with};
use weightlens_engine::plugins::registry_with_plugins;
use weightlens_readers::numpy::write::descr_of;
use weightlens_readers::OpenOptions;

use crate::errors;

/// What keeps the memory of a [`TensorBuffer`] alive.
#[derive(Debug)]
enum Owner {
    /// The model's memory map (a zero-copy view).
    Source(#[allow(dead_code)] Arc<dyn TensorSource>),
    /// Decoded values.
    Bytes(#[allow(dead_code)] Vec<u8>),
}

/// Memory numpy reads through `__array_interface__`; the array keeps this object (and so the
/// memory map or the decoded values) alive as its `base`.
#[pyclass(frozen, module = "weightlens")]
#[derive(Debug)]
pub struct TensorBuffer {
    _owner: Owner,
    address: usize,
    shape: Vec<u64>,
    typestr: &'static str,
    readonly: bool,
}

#[pymethods]
impl TensorBuffer {
    /// numpy's array interface (version 3).
    #[getter]
    fn __array_interface__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let d = PyDict::new(py);
        d.set_item("version", 3)?;
        d.set_item("shape", PyTuple::new(py, &self.shape)?)?;
        d.set_item("typestr", self.typestr)?;
        d.set_item("data", (self.address, self.readonly))?;
        Ok(d)
    }
}

/// A model opened lazily: headers are parsed, tensor data is read by `get`.
#[pyclass(module = "weightlens")]
#[derive(Debug)]
pub struct Model {
    source: Option<Arc<dyn TensorSource>>,
    path: String,
    framework: &'static str,
    names: Vec<String>,
    index: HashMap<String, usize>,
    infos: Vec<serde_json::Value>,
    metadata: serde_json::Value,
    max_tensor_bytes: u64,
}

impl Model {
    fn source(&self) -> PyResult<&Arc<dyn TensorSource>> {
        self.source.as_ref().ok_or_else(|| PyValueError::new_err(format!("{} is closed", self.path)))
    }

    fn position(&self, name: &str) -> PyResult<usize> {
        self.index
            .get(name)
            .copied()
            .ok_or_else(|| errors::NoSuchTensorError::new_err(format!("{}: no tensor named {name:?}", self.path)))
    }
}

/// The memory of tensor `i` of `source` as `get` returns it: a view of the memory map when the
/// stored bytes are what `dump` writes (little-endian), else the decoded values.
fn tensor_buffer(
    source: Arc<dyn TensorSource>,
    i: usize,
    max_bytes: u64,
) -> Result<TensorBuffer, Box<weightlens_engine::Error>> {
    let info = &source.tensors()[i];
    let view = source.view(i).map_err(|e| Box::new(e.into()))?;
    if let Some((stored, ByteOrder::Little, bytes)) = view.borrowed_plain_bytes() {
        if let (true, Some(typestr)) = (dump_dtype(info.dtype) == stored, descr_of(stored)) {
            let (address, shape) = (bytes.as_ptr() as usize, info.shape.clone());
            drop(view);
            return Ok(TensorBuffer { _owner: Owner::Source(source.clone()), address, shape, typestr, readonly: true });
        }
    }
    drop(view);
    let (dtype, shape, bytes) = decode_tensor(source.as_ref(), i, max_bytes).map_err(Box::new)?;
    let typestr = descr_of(dtype).unwrap_or("<f4");
    let address = bytes.as_ptr() as usize;
    Ok(TensorBuffer { _owner: Owner::Bytes(bytes), address, shape, typestr, readonly: false })
}

/// Python objects from JSON values (through the `json` module: the values are small headers).
pub fn json_to_py<'py>(py: Python<'py>, value: &serde_json::Value) -> PyResult<Bound<'py, PyAny>> {
    let text = serde_json::to_string(value).map_err(|e| errors::WeightlensError::new_err(e.to_string()))?;
    py.import("json")?.call_method1("loads", (text,))
}

#[pymethods]
impl Model {
    /// The tensor names, in the order of the file.
    fn keys(&self) -> Vec<String> {
        self.names.clone()
    }

    /// What the header says about tensor `name`: dtype, shape, bytes, file (and quantization).
    fn info<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let i = self.position(name)?;
        json_to_py(py, &self.infos[i])
    }

    /// Tensor `name` as a numpy array, as `weightlens dump` writes it (float32 for float and
    /// quantized types, float64 for F64, integers and bool as stored): a read-only view of the
    /// memory map when the stored bytes already are that (little-endian), else decoded.
    fn get<'py>(&self, py: Python<'py>, name: &str) -> PyResult<Bound<'py, PyAny>> {
        let i = self.position(name)?;
        let source = self.source()?.clone();
        let max = self.max_tensor_bytes;
        let buffer = py.detach(move || tensor_buffer(source, i, max));
        let buffer = buffer.map_err(|e| errors::engine(&e))?;
        py.import("numpy")?.call_method1("asarray", (Bound::new(py, buffer)?,))
    }

    /// Format metadata (architecture, counts...).
    fn metadata<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        json_to_py(py, &self.metadata)
    }

    /// The path naming the model.
    #[getter]
    fn path(&self) -> &str {
        &self.path
    }

    /// The container format (`safetensors`, `gguf`, `pytorch`...).
    #[getter]
    fn framework(&self) -> &'static str {
        self.framework
    }

    /// Releases the model (arrays already returned stay valid).
    fn close(&mut self) {
        self.source = None;
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        _ty: Option<Bound<'_, PyAny>>,
        _value: Option<Bound<'_, PyAny>>,
        _tb: Option<Bound<'_, PyAny>>,
    ) {
        self.close();
    }

    fn __len__(&self) -> usize {
        self.names.len()
    }

    fn __contains__(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    fn __repr__(&self) -> String {
        format!("<weightlens.Model {} ({}, {} tensors)>", self.path, self.framework, self.names.len())
    }
}

/// `weightlens.open`.
#[pyfunction]
#[pyo3(signature = (path, *, max_tensor_bytes=None, allow_unsafe_pickle=false, plugins=Vec::new()))]
pub fn open(
    py: Python<'_>,
    path: PathBuf,
    max_tensor_bytes: Option<u64>,
    allow_unsafe_pickle: bool,
    plugins: Vec<PathBuf>,
) -> PyResult<Model> {
    let mut options = OpenOptions { allow_unsafe_pickle, ..OpenOptions::default() };
    if let Some(bytes) = max_tensor_bytes {
        options.max_tensor_bytes = bytes;
    }
    let opened = py.detach(|| -> PyResult<Box<dyn TensorSource>> {
        let (registry, _) = registry_with_plugins(&plugins);
        let discovery = weightlens_readers::discover_with(&registry, std::slice::from_ref(&path));
        if let Some(e) = discovery.errors.first() {
            return Err(errors::core(e));
        }
        match discovery.models.as_slice() {
            [model] => weightlens_readers::open_model_with(model, &options).map_err(|e| errors::core(&e)),
            [] => Err(errors::UnknownFormatError::new_err(format!("{}: no model found", path.display()))),
            many => Err(errors::WeightlensError::new_err(format!(
                "{}: holds {} models; open one of them",
                path.display(),
                many.len()
            ))),
        }
    })?;
    let listed = list(opened.as_ref(), false);
    let infos: Vec<serde_json::Value> =
        listed.tensors.iter().map(|t| serde_json::to_value(t).unwrap_or(serde_json::Value::Null)).collect();
    let names: Vec<String> = listed.tensors.into_iter().map(|t| t.name).collect();
    Ok(Model {
        index: names.iter().enumerate().map(|(i, n)| (n.clone(), i)).collect(),
        names,
        infos,
        path: listed.path,
        framework: listed.framework,
        metadata: listed.metadata,
        source: Some(Arc::from(opened)),
        max_tensor_bytes: options.max_tensor_bytes,
    })
}

/// `weightlens.ls`: one dict per tensor of every model under `paths`, from headers only.
#[pyfunction]
#[pyo3(signature = (path, *, raw=false, plugins=Vec::new()))]
pub fn ls<'py>(
    py: Python<'py>,
    path: Bound<'py, PyAny>,
    raw: bool,
    plugins: Vec<PathBuf>,
) -> PyResult<Bound<'py, PyAny>> {
    let paths = crate::paths_arg(&path)?;
    let listing = py.detach(|| {
        let (registry, mut errors) = registry_with_plugins(&plugins);
        let listing = list_paths_with(&registry, &paths, raw);
        errors.extend(listing.errors);
        (listing.models, errors)
    });
    if let Some(e) = listing.1.first() {
        return Err(errors::core(e));
    }
    let mut rows = Vec::new();
    for model in listing.0 {
        for t in &model.tensors {
            let mut value = serde_json::to_value(t).map_err(|e| errors::WeightlensError::new_err(e.to_string()))?;
            if let Some(obj) = value.as_object_mut() {
                obj.insert("model".into(), model.path.clone().into());
                obj.insert("framework".into(), model.framework.into());
            }
            rows.push(value);
        }
    }
    json_to_py(py, &serde_json::Value::Array(rows))
}
