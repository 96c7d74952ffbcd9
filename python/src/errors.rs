//! The exception classes of the package and the mapping of the engine's typed errors onto them.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::PyErr;
use weightlens_core::ErrorKind;

create_exception!(weightlens, WeightlensError, PyException, "Base class of every error weightlens raises.");
create_exception!(
    weightlens,
    UnknownFormatError,
    WeightlensError,
    "A file whose format weightlens does not recognise."
);
create_exception!(
    weightlens,
    MalformedError,
    WeightlensError,
    "A file that is not valid in its format (truncated, inconsistent header...)."
);
create_exception!(
    weightlens,
    RefusedPickleError,
    WeightlensError,
    "A file weightlens refuses to read: a pickle calling dangerous globals (os.system, eval...) or a NumPy object array."
);
create_exception!(weightlens, TensorError, WeightlensError, "One tensor could not be read, decoded or analyzed.");
create_exception!(weightlens, WeightlensIOError, WeightlensError, "A file could not be read or written (OS error).");
create_exception!(weightlens, NoSuchTensorError, WeightlensError, "No tensor of that name in the model.");
create_exception!(
    weightlens,
    HubError,
    WeightlensError,
    "The Hugging Face hub (or its cache) could not provide the model."
);

/// The exception for an error of `kind` with `message`.
pub fn from_kind(kind: ErrorKind, message: String) -> PyErr {
    match kind {
        ErrorKind::UnknownFormat => UnknownFormatError::new_err(message),
        ErrorKind::Malformed => MalformedError::new_err(message),
        ErrorKind::Refused => RefusedPickleError::new_err(message),
        ErrorKind::Tensor | ErrorKind::Analyzer => TensorError::new_err(message),
        ErrorKind::Io | ErrorKind::Output => WeightlensIOError::new_err(message),
        _ => WeightlensError::new_err(message),
    }
}

/// The exception for a core error.
pub fn core(e: &weightlens_core::Error) -> PyErr {
    from_kind(e.kind(), e.to_string())
}

/// The exception for an engine error.
pub fn engine(e: &weightlens_engine::Error) -> PyErr {
    match e {
        weightlens_engine::Error::Core(c) => core(c),
        weightlens_engine::Error::NoSuchTensor { .. } => NoSuchTensorError::new_err(e.to_string()),
        _ => WeightlensError::new_err(e.to_string()),
    }
}

/// The exception for a hub error.
pub fn hub(e: &weightlens_hub::HubError) -> PyErr {
    HubError::new_err(e.to_string())
}
