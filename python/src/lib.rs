//! The native module of the `weightlens` Python package (`weightlens._native`): the engine's
//! analysis, models opened lazily, `ls`, `diff`, `scan` and `download`, with the GIL released
//! while reading and analyzing. The Python side (`python/weightlens/__init__.py`) adds the
//! progress bar and the helpers that read the run metadata back; `__init__.pyi` documents it.

use std::path::PathBuf;

use pyo3::prelude::*;

mod analyze;
mod errors;
mod misc;
mod model;

/// One path (str or `os.PathLike`) or an iterable of them.
pub(crate) fn paths_arg(value: &Bound<'_, PyAny>) -> PyResult<Vec<PathBuf>> {
    if let Ok(one) = value.extract::<PathBuf>() {
        return Ok(vec![one]);
    }
    value.try_iter()?.map(|item| item?.extract::<PathBuf>()).collect()
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add_function(wrap_pyfunction!(analyze::analyze, m)?)?;
    m.add_function(wrap_pyfunction!(model::open, m)?)?;
    m.add_function(wrap_pyfunction!(model::ls, m)?)?;
    m.add_function(wrap_pyfunction!(misc::diff, m)?)?;
    m.add_function(wrap_pyfunction!(misc::scan, m)?)?;
    m.add_function(wrap_pyfunction!(misc::download, m)?)?;
    m.add_class::<model::Model>()?;
    m.add_class::<model::TensorBuffer>()?;
    m.add("RUN_META_KEY", analyze::RUN_META_KEY)?;
    m.add("DIFF_META_KEY", misc::DIFF_META_KEY)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("WeightlensError", py.get_type::<errors::WeightlensError>())?;
    m.add("UnknownFormatError", py.get_type::<errors::UnknownFormatError>())?;
    m.add("MalformedError", py.get_type::<errors::MalformedError>())?;
    m.add("RefusedPickleError", py.get_type::<errors::RefusedPickleError>())?;
    m.add("TensorError", py.get_type::<errors::TensorError>())?;
    m.add("WeightlensIOError", py.get_type::<errors::WeightlensIOError>())?;
    m.add("NoSuchTensorError", py.get_type::<errors::NoSuchTensorError>())?;
    m.add("HubError", py.get_type::<errors::HubError>())?;
    Ok(())
}
