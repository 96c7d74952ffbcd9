//! Reader plugins loaded from built libraries: the example `rawbin-reader` (Rust SDK) end to end
//! through the registry, and a C reader that lies in each way the host must catch.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod common;

use std::path::Path;
use std::sync::Arc;

use weightlens_analyzers::plugin::{load_reader_plugins, ReaderPlugin};
use weightlens_core::{FormatReader, OpenOptions};
use weightlens_readers::ReaderRegistry;

/// Writes a raw binary + sidecar model: `w` F32 [2, 3] little endian, `b` I16 [3] big endian.
fn write_model(dir: &Path) -> std::path::PathBuf {
    let w: Vec<f32> = vec![0.5, -1.0, 2.0, 3.25, -4.0, 0.0];
    let b: Vec<i16> = vec![-7, 300, 12];
    let mut data: Vec<u8> = w.iter().flat_map(|v| v.to_le_bytes()).collect();
    data.extend(b.iter().flat_map(|v| v.to_be_bytes()));
    std::fs::write(dir.join("weights.raw"), data).unwrap();
    let sidecar = serde_json::json!({
        "format": "raw-tensors", "data": "weights.raw",
        "tensors": [
            {"name": "layers.0.mlp.up_proj.weight", "dtype": "F32", "shape": [2, 3], "offset": 0},
            {"name": "b", "dtype": "I16", "shape": [3], "offset": 24, "byte_order": "big"}
        ]
    });
    let path = dir.join("model.json");
    std::fs::write(&path, sidecar.to_string()).unwrap();
    path
}

#[test]
fn the_example_reader_plugin_reads_its_layout_through_the_registry() {
    let lib = common::rawbin_reader();
    let (readers, errors) = load_reader_plugins(&[lib.clone(), lib.clone()]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(readers.len(), 1, "a library listed twice is loaded once");
    let mut registry = ReaderRegistry::with_builtin();
    registry.register(Arc::new(readers[0].clone())).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = write_model(dir.path());
    let reader = registry.detect_file(&path).unwrap();
    assert_eq!(reader.id(), "rawbin");
    let source = reader.open(&path, &OpenOptions::default()).unwrap();
    assert_eq!(source.framework().as_str(), "rawbin");
    let names: Vec<&str> = source.tensors().iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["layers.0.mlp.up_proj.weight", "b"]);
    assert_eq!(source.tensors()[0].shape, [2, 3]);
    assert_eq!(source.tensors()[1].dtype_name, "I16");
    // Lent (little endian) and copied (byte-swapped by the plugin) data.
    assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), [0.5, -1.0, 2.0, 3.25, -4.0, 0.0]);
    assert_eq!(source.view(1).unwrap().to_f64_vec().unwrap(), [-7.0, 300.0, 12.0]);
    assert_eq!(source.metadata()["tensors"]["b"]["byte_order"], "big");
    // Other files are not its format.
    let gguf = common::workspace_root().join("fixtures/all-types.gguf");
    assert_eq!(registry.detect_file(&gguf).unwrap().id(), "gguf");
}

#[test]
fn an_abi_mismatch_is_refused_before_anything_else() {
    let err = ReaderPlugin::load(&common::lying_reader("MODE_WRONG_MAJOR")).unwrap_err().to_string();
    assert!(err.contains("reader ABI 2.0") && err.contains("supports reader ABI 1"), "{err}");
    let (readers, errors) = load_reader_plugins(&[common::lying_reader("MODE_WRONG_MAJOR")]);
    assert!(readers.is_empty() && errors.len() == 1, "{errors:?}");
}

#[test]
fn a_lying_plugin_is_an_error_for_that_file_or_tensor() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("x.lie");
    std::fs::write(&file, b"LYING! anything").unwrap();
    let open = |mode: &str| {
        let plugin = ReaderPlugin::load(&common::lying_reader(mode)).unwrap();
        assert_eq!(plugin.identify(b"LYING!", &file), weightlens_core::Identify::Yes);
        plugin.open(&file, &OpenOptions::default())
    };
    // Well-formed: copied into the host's buffer.
    let source = open("").unwrap();
    assert_eq!(source.view(0).unwrap().to_f64_vec().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    // A byte length the shape does not need: the file is refused at open.
    let err = open("MODE_BYTE_LEN").unwrap_err().to_string();
    assert!(err.contains("x.lie") && err.contains("reports 1099511627776 bytes") && err.contains("needs 16"), "{err}");
    // More written than the buffer holds: that tensor fails, nothing is read past the buffer.
    let source = open("MODE_OVERWRITE").unwrap();
    let err = source.view(0).unwrap_err();
    assert_eq!(err.tensor_name(), Some("t"));
    assert!(err.to_string().contains("wrote 116 bytes into a buffer of 16"), "{err}");
    // Lending fewer bytes than the tensor has.
    let source = open("MODE_LEND_SHORT").unwrap();
    assert!(source.view(0).unwrap_err().to_string().contains("lent 2 bytes, the tensor has 16"));
}
