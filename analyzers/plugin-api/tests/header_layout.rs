//! The C header must describe exactly the Rust types: a C program compiled against it prints the
//! size of every type and the offset of every field, and they must equal the Rust layout.
//! Needs the system C compiler (`cc`, or `$CC`); the test fails when there is none.

use std::mem::{offset_of, size_of};
use std::path::Path;
use std::process::Command;

use weightlens_plugin_api::*;

/// `(C expression, Rust value)` pairs, printed by the C program in this order.
fn rust_layout() -> Vec<(&'static str, usize)> {
    macro_rules! off {
        ($t:ident, $f:ident) => {
            (concat!("offsetof(", stringify!($t), ", ", stringify!($f), ")"), offset_of!($t, $f))
        };
    }
    macro_rules! size {
        ($t:ident) => {
            (concat!("sizeof(", stringify!($t), ")"), size_of::<$t>())
        };
    }
    vec![
        size!(WlAbiHeader),
        off!(WlAbiHeader, abi_major),
        off!(WlAbiHeader, abi_minor),
        off!(WlAbiHeader, struct_size),
        size!(WlTensor),
        off!(WlTensor, values),
        off!(WlTensor, n_values),
        off!(WlTensor, shape),
        off!(WlTensor, ndim),
        off!(WlTensor, name),
        off!(WlTensor, name_len),
        off!(WlTensor, dtype),
        off!(WlTensor, dtype_len),
        off!(WlTensor, layer_index),
        off!(WlTensor, block_type),
        off!(WlTensor, block_type_len),
        size!(WlAnalyzerV1),
        off!(WlAnalyzerV1, header),
        off!(WlAnalyzerV1, name),
        off!(WlAnalyzerV1, version),
        off!(WlAnalyzerV1, n_metrics),
        off!(WlAnalyzerV1, metric_names),
        off!(WlAnalyzerV1, thread_safe),
        off!(WlAnalyzerV1, reserved),
        off!(WlAnalyzerV1, create),
        off!(WlAnalyzerV1, analyze),
        off!(WlAnalyzerV1, last_error),
        off!(WlAnalyzerV1, destroy),
    ]
}

#[test]
fn c_header_matches_rust_layout() {
    let layout = rust_layout();
    let include = Path::new(env!("CARGO_MANIFEST_DIR")).join("include");
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-api-header");
    std::fs::create_dir_all(&dir).unwrap();

    let mut program = String::from("#include <stddef.h>\n#include <stdio.h>\n#include \"weightlens_plugin.h\"\n");
    program.push_str("int main(void) {\n");
    for (expr, _) in &layout {
        program.push_str(&format!("    printf(\"%zu\\n\", (size_t)({expr}));\n"));
    }
    // The constants must agree too.
    program.push_str("    printf(\"%d %d %s %d %d %d %d %d\\n\", WL_ABI_MAJOR, WL_ABI_MINOR, WL_ENTRY_SYMBOL_V1, ");
    program.push_str("WL_STATUS_OK, WL_STATUS_ERROR, WL_STATUS_PANIC, WL_MAX_METRICS, WL_MAX_NAME_LEN);\n");
    program.push_str("    return 0;\n}\n");
    let source = dir.join("layout.c");
    let exe = dir.join("layout");
    std::fs::write(&source, program).unwrap();

    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let status = Command::new(&cc)
        .args(["-std=c11", "-Wall", "-Werror", "-I"])
        .arg(&include)
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .status()
        .unwrap_or_else(|e| panic!("cannot run the C compiler `{cc}`: {e}"));
    assert!(status.success(), "the C compiler rejected the header");

    let output = Command::new(&exe).output().unwrap();
    assert!(output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), layout.len() + 1, "unexpected output:\n{stdout}");
    for ((expr, rust), c) in layout.iter().zip(&lines) {
        assert_eq!(c.parse::<usize>().unwrap(), *rust, "{expr}: C says {c}, Rust says {rust}");
    }
    let constants = format!(
        "{WL_ABI_MAJOR} {WL_ABI_MINOR} {ENTRY_SYMBOL_V1} {WL_STATUS_OK} {WL_STATUS_ERROR} {WL_STATUS_PANIC} {WL_MAX_METRICS} {WL_MAX_NAME_LEN}"
    );
    assert_eq!(lines.last().copied(), Some(constants.as_str()));
}
