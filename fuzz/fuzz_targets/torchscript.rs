//! Fuzzes TorchScript archives: the input is `data.pkl` of an archive laid out as
//! `torch.jit.save` writes it (with `constants.pkl`, `code/` and a storage member), read as a
//! checkpoint and scanned; neither may panic, and the archive must be classified TorchScript.
#![no_main]

use std::io::{Cursor, Write};
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use weightlens_readers::detect::{self, Format};
use weightlens_readers::pytorch::read_checkpoint;
use zip::write::SimpleFileOptions;

fn archive(data_pkl: &[u8]) -> Option<Vec<u8>> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let stored = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, bytes) in [
        ("m/data.pkl", data_pkl),
        ("m/constants.pkl", b"\x80\x02).".as_slice()),
        ("m/code/__torch__.py", b"class M(Module): pass\n".as_slice()),
        ("m/data/0", [0u8; 64].as_slice()),
        ("m/version", b"3\n".as_slice()),
    ] {
        w.start_file(name, stored).ok()?;
        w.write_all(bytes).ok()?;
    }
    Some(w.finish().ok()?.into_inner())
}

fuzz_target!(|data: &[u8]| {
    let Some(bytes) = archive(data) else { return };
    assert_eq!(detect::detect_bytes(&bytes), Ok(Format::TorchScript));
    let _ = read_checkpoint(&bytes, Path::new("fuzz.pt"));
    let (findings, _) = weightlens_readers::safety::scan_pickle(data, 0, &Default::default(), true);
    let _ = weightlens_readers::safety::worst(&findings);
});
