//! The reader registry: every built-in format detected by its reader, ties and lone "maybe"s.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::{Path, PathBuf};
use std::sync::Arc;

use weightlens_core::{Error, FormatReader, Identify, OpenOptions, Result, TensorSource};
use weightlens_readers::{discover_with, ReaderRegistry};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures").join(rel)
}

#[test]
fn every_builtin_format_is_detected_by_its_reader() {
    let registry = ReaderRegistry::with_builtin();
    for (rel, id) in [
        ("dtypes.safetensors", "safetensors"),
        ("llama-tiny/model.safetensors.index.json", "shard-index"),
        ("torch-quirks.pt", "pt"),
        ("gpt2-tiny-legacy.bin", "pt"),
        ("all-types.gguf", "gguf"),
        ("lowrank.npy", "npy"),
        ("flax-tiny.npz", "npz"),
        ("onnx/typed-fields.onnx", "onnx"),
        // llama.cpp importance matrices: the GGUF one is a GGUF (served as an imatrix by its
        // reader), the magic-less legacy .dat is claimed only because it parses to its end.
        ("diff/imatrix/llama_tiny.imatrix.gguf", "gguf"),
        ("diff/imatrix/llama_tiny.imatrix.dat", "imatrix-dat"),
        ("pickle/numpy-weights-p4.pkl", "pkl"),
        ("pickle/numpy-weights-p2.pkl", "pkl"),
        ("pickle/torchscript.pt", "pt"),
        // Read through the central directory, which names data.pkl (the local header lies).
        ("pickle/zip-local-header-mismatch.pt", "pt"),
        // A weak signature alone is opened: header-too-long has '{' at byte 8 but a header
        // length beyond the file, and keeps safetensors' own error message.
        ("bad/header-too-long.safetensors", "safetensors"),
    ] {
        assert_eq!(registry.detect_file(&fixture(rel)).unwrap().id(), id, "{rel}");
    }
    let err = registry.open(&fixture("bad/header-too-long.safetensors"), &OpenOptions::default()).unwrap_err();
    assert!(err.to_string().contains("header length"), "{err}");
    let err = registry.detect_file(&fixture("bad/notes.gguf")).unwrap_err();
    assert!(matches!(err, Error::UnknownFormat { .. }) && err.to_string().contains("magic does not match"), "{err}");
}

#[test]
fn every_builtin_reader_declares_what_it_reads() {
    let registry = ReaderRegistry::with_builtin();
    let ids: Vec<&str> = registry.readers().iter().map(|r| r.id()).collect();
    assert_eq!(ids, ["safetensors", "shard-index", "pt", "pkl", "gguf", "npy", "npz", "onnx", "imatrix-dat"]);
    for r in registry.readers() {
        assert!(!r.name().is_empty() && !r.magic().is_empty(), "{}", r.id());
    }
    assert!(registry.claims_extension(Path::new("x/model.ONNX")));
    assert!(!registry.claims_extension(Path::new("README.md")));
}

/// A reader that answers `answer` for every file.
struct Claims {
    id: &'static str,
    answer: Identify,
}

impl FormatReader for Claims {
    fn id(&self) -> &str {
        self.id
    }
    fn name(&self) -> &str {
        "test reader"
    }
    fn extensions(&self) -> &[&str] {
        &[]
    }
    fn magic(&self) -> &str {
        "anything"
    }
    fn identify(&self, _head: &[u8], _path: &Path) -> Identify {
        self.answer
    }
    fn open(&self, path: &Path, _options: &OpenOptions) -> Result<Box<dyn TensorSource>> {
        Err(Error::malformed(path, None, "test reader opens nothing"))
    }
}

#[test]
fn a_tie_is_explained_and_a_lone_maybe_is_chosen() {
    let mut registry = ReaderRegistry::with_builtin();
    registry.register(Arc::new(Claims { id: "greedy", answer: Identify::Yes })).unwrap();
    let err = registry.detect_file(&fixture("all-types.gguf")).unwrap_err().to_string();
    assert!(err.contains("ambiguous") && err.contains("gguf") && err.contains("greedy"), "{err}");

    let mut registry = ReaderRegistry::with_builtin();
    registry.register(Arc::new(Claims { id: "guess", answer: Identify::Maybe })).unwrap();
    // A sure reader beats a guess.
    assert_eq!(registry.detect_file(&fixture("all-types.gguf")).unwrap().id(), "gguf");
    // Nobody sure: the lone guess is taken.
    assert_eq!(registry.detect_file(&fixture("bad/notes.gguf")).unwrap().id(), "guess");
    registry.register(Arc::new(Claims { id: "guess2", answer: Identify::Maybe })).unwrap();
    let err = registry.detect_file(&fixture("bad/notes.gguf")).unwrap_err().to_string();
    assert!(err.contains("ambiguous") && err.contains("guess") && err.contains("guess2"), "{err}");
    // Ids are unique: they are the framework column.
    assert!(registry.register(Arc::new(Claims { id: "onnx", answer: Identify::No })).is_err());
}

#[test]
fn onnx_without_its_extension_is_only_a_maybe() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model.pb");
    std::fs::copy(fixture("onnx/raw-data.onnx"), &path).unwrap();
    let registry = ReaderRegistry::with_builtin();
    let head = std::fs::read(&path).unwrap();
    let onnx = registry.get("onnx").unwrap();
    assert_eq!(onnx.identify(&head, &path), Identify::Maybe);
    assert_eq!(onnx.identify(&head, &fixture("onnx/raw-data.onnx")), Identify::Yes);
    assert_eq!(registry.detect_file(&path).unwrap().id(), "onnx");
    // Other formats' heads are not ONNX.
    for rel in ["dtypes.safetensors", "all-types.gguf", "lowrank.npy", "torch-quirks.pt"] {
        let head = std::fs::read(fixture(rel)).unwrap();
        assert_eq!(onnx.identify(&head[..head.len().min(4096)], &fixture(rel)), Identify::No, "{rel}");
    }
}

#[test]
fn discovery_groups_members_under_their_model() {
    let registry = ReaderRegistry::with_builtin();
    let found = discover_with(&registry, &[fixture("onnx/external")]);
    assert!(found.errors.is_empty(), "{:?}", found.errors);
    let paths: Vec<_> = found.models.iter().map(|m| m.path.file_name().unwrap().to_owned()).collect();
    assert_eq!(paths, ["model.onnx"]);
    assert_eq!(
        registry.get("onnx").unwrap().members(&fixture("onnx/external/model.onnx")),
        [fixture("onnx/external/weights.bin")]
    );
}
