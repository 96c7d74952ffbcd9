//! Is a file safe to hand to `torch.load` / `pickle.load`? An allow-list verdict for every
//! pickle in it, found without executing, importing or calling anything.
//!
//! Each pickle is read by the same opcode machine as the readers ([`pickle::parse_recorded`]),
//! and every global it references is judged:
//! - [`Verdict::Safe`]: on the allow-list ([`allow`]: what `torch.load(weights_only=True)`
//!   accepts by default, plus numpy's array reconstruction), matched exactly;
//! - [`Verdict::Dangerous`]: on the deny-list (`pytorch::globals::DENIED`), which only explains:
//!   a global it misses is still not safe. A second pickle stream after `STOP` is dangerous too;
//! - [`Verdict::Unknown`]: anything else (a user's class, `argparse.Namespace`, TorchScript
//!   `__torch__` classes), or a call of a computed object;
//! - [`Verdict::Malformed`]: the stream does not parse (unknown opcodes, truncation, stack errors).
//!
//! The file's verdict is the worst of its findings, so it fails closed: a pickle is `safe` only
//! when it parsed and every global in it is on the allow-list. Bytes values that are themselves
//! binary pickles are scanned too and reported as nested findings.

pub mod allow;
mod file;

use std::path::Path;

use serde::Serialize;

use crate::pytorch::globals;
use crate::pytorch::pickle::{self, ArrayData, Node};

pub use file::{files_to_scan, scan_file, scan_model, FileScan};

/// How deep nested pickles (bytes values holding pickles) are followed.
pub const MAX_NESTING: usize = 4;
/// Most findings kept per pickle (the verdict still counts every global).
pub const MAX_FINDINGS: usize = 64;

/// The safety verdict of a pickle or a file, from best to worst.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Only allow-listed globals (or no pickle at all).
    Safe,
    /// Globals outside the allow-list that are not known to be dangerous.
    Unknown,
    /// A stream that does not parse.
    Malformed,
    /// A global known to reach code execution, the system, imports or nested unpickling; or a
    /// second pickle stream after `STOP`; or an archive crafted to show scanners another file.
    Dangerous,
}

impl Verdict {
    /// The lower-case name (`safe`, `unknown`, `malformed`, `dangerous`).
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Safe => "safe",
            Verdict::Unknown => "unknown",
            Verdict::Malformed => "malformed",
            Verdict::Dangerous => "dangerous",
        }
    }
}

/// One reason for a verdict: a global (or another finding) and where it is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// What this finding makes of the file.
    pub verdict: Verdict,
    /// `module.name` of a global, or what was found (`second pickle stream after STOP`).
    pub what: String,
    /// The archive member holding the pickle (`archive/data.pkl`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub member: Option<String>,
    /// Byte offset in the file; for a pickle in a deflated member, in the inflated member.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offset: Option<u64>,
    /// How many bytes values deep the pickle holding it is nested (0: not nested).
    pub nested: usize,
}

/// The verdict of one judged global.
pub fn judge_global(module: &str, name: &str) -> Verdict {
    if globals::is_denied(module, name) {
        Verdict::Dangerous
    } else if allow::is_allowed(module, name) {
        Verdict::Safe
    } else {
        Verdict::Unknown
    }
}

/// Where a pickle sits, for findings.
#[derive(Clone, Debug, Default)]
pub struct Place {
    /// The archive member, if any.
    pub member: Option<String>,
}

/// The findings of one pickle stream at the start of `data` (`base`: its offset in the file).
/// With `single`, bytes after the first `STOP` are a second stream (dangerous); torch's legacy
/// format, whose pickles follow one another by design, passes `false` and reads on from the
/// returned end.
pub fn scan_pickle(data: &[u8], base: u64, place: &Place, single: bool) -> (Vec<Finding>, Option<usize>) {
    let mut findings = Vec::new();
    let end = scan_into(data, base, place, single, 0, &mut findings);
    (findings, end)
}

fn push(findings: &mut Vec<Finding>, finding: Finding) {
    let seen =
        findings.iter().any(|f| f.what == finding.what && f.member == finding.member && f.nested == finding.nested);
    if !seen && findings.len() < MAX_FINDINGS {
        findings.push(finding);
    } else if !seen && finding.verdict > findings.iter().map(|f| f.verdict).min().unwrap_or(Verdict::Safe) {
        // Keep the worst findings when the list is full.
        if let Some(i) = findings.iter().position(|f| f.verdict < finding.verdict) {
            findings[i] = finding;
        }
    }
}

fn scan_into(
    data: &[u8],
    base: u64,
    place: &Place,
    single: bool,
    depth: usize,
    out: &mut Vec<Finding>,
) -> Option<usize> {
    let path = Path::new(place.member.as_deref().unwrap_or(""));
    let (parsed, record) = pickle::parse_recorded(data, path, base);
    let at = Some;
    let finding = |verdict, what: String, offset: Option<u64>| Finding {
        verdict,
        what,
        member: place.member.clone(),
        offset,
        nested: depth,
    };
    for g in &record.globals {
        let verdict = judge_global(&g.module, &g.name);
        if verdict != Verdict::Safe {
            push(out, finding(verdict, format!("{}.{}", g.module, g.name), at(g.offset)));
        }
    }
    for &offset in &record.indirect_calls {
        push(out, finding(Verdict::Unknown, "call of a computed object (not a global)".into(), at(offset)));
    }
    let parsed = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            // Nested bytes that merely begin like a pickle need not be one: only what they
            // reference counts, not that they fail to parse.
            if depth == 0 {
                push(out, finding(Verdict::Malformed, error_message(&e), None));
            }
            return None;
        }
    };
    if single {
        let rest = data.get(parsed.end..).unwrap_or_default();
        if rest.iter().any(|b| !b.is_ascii_whitespace() && *b != 0) {
            let offset = base.saturating_add(parsed.end as u64);
            push(out, finding(Verdict::Dangerous, "second pickle stream after STOP".into(), at(offset)));
            // What the second stream references explains the verdict.
            scan_into(rest, offset, place, true, depth, out);
        }
    }
    if depth < MAX_NESTING {
        // Array data is data, whatever its first bytes look like.
        let array_data: Vec<u64> = parsed
            .nodes
            .iter()
            .filter_map(|n| match n {
                Node::Array(a) => match a.data {
                    ArrayData::Span(s) => Some(s.start),
                    _ => None,
                },
                _ => None,
            })
            .collect();
        for span in record.pickled_bytes.iter().filter(|s| !array_data.contains(&s.start)) {
            let start = span.start.saturating_sub(base) as usize;
            let Some(bytes) = data.get(start..start.saturating_add(span.len as usize)) else { continue };
            if crate::detect::detect(bytes) == Ok(crate::Format::TorchLegacy) {
                // A storage pickled by pickle.dumps: a legacy torch file, pickles in a row.
                scan_legacy_into(bytes, span.start, place, depth + 1, out);
            } else {
                scan_into(bytes, span.start, place, true, depth + 1, out);
            }
        }
    }
    Some(parsed.end)
}

/// The pickles of torch's legacy format, one after the other (magic, protocol, sys_info, the
/// object, the storage keys); raw storage data follows. Returns how many were scanned.
const LEGACY_PICKLES: usize = 5;

fn scan_legacy_into(data: &[u8], base: u64, place: &Place, depth: usize, out: &mut Vec<Finding>) -> usize {
    let mut pos = 0usize;
    for n in 0..LEGACY_PICKLES {
        let rest = data.get(pos..).unwrap_or_default();
        let Some(end) = scan_into(rest, base.saturating_add(pos as u64), place, false, depth, out) else {
            return n + 1;
        };
        pos = pos.saturating_add(end);
    }
    LEGACY_PICKLES
}

/// The findings of a legacy torch file in `data` and how many pickles it held.
pub fn scan_legacy(data: &[u8], place: &Place) -> (Vec<Finding>, usize) {
    let mut findings = Vec::new();
    let n = scan_legacy_into(data, 0, place, 0, &mut findings);
    (findings, n)
}

/// The message of a parse error without the file name (the scan names the file itself).
fn error_message(e: &weightlens_core::Error) -> String {
    match e {
        weightlens_core::Error::Malformed { message, offset, .. } => match offset {
            Some(at) => format!("{message} (at byte {at})"),
            None => message.clone(),
        },
        other => other.to_string(),
    }
}

/// The worst verdict of `findings` (`safe` when there are none).
pub fn worst(findings: &[Finding]) -> Verdict {
    findings.iter().map(|f| f.verdict).max().unwrap_or(Verdict::Safe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn verdict(bytes: &[u8]) -> (Verdict, Vec<String>) {
        let (findings, _) = scan_pickle(bytes, 0, &Place::default(), true);
        (worst(&findings), findings.iter().map(|f| f.what.clone()).collect())
    }

    #[test]
    fn every_route_to_a_dangerous_global_is_found() {
        let cases: [(&[u8], &str); 7] = [
            (b"\x80\x02cos\nsystem\nX\x02\x00\x00\x00ls\x85R.", "os.system"),
            (b"\x80\x04\x8c\x08builtins\x8c\x04eval\x93.", "builtins.eval"),
            (b"(S'ls'\niposix\nsystem\n.", "posix.system"),
            (b"(cnt\nsystem\nS'ls'\no.", "nt.system"),
            (b"\x80\x02c__builtin__\ngetattr\n.", "__builtin__.getattr"),
            // STACK_GLOBAL through memoized strings.
            (b"\x80\x04\x8c\x02os\x94\x8c\x06system\x94h\x00h\x01\x93.", "os.system"),
            (b"\x80\x02coperator\nattrgetter\nX\x06\x00\x00\x00systemh\x00\x85R.", "operator.attrgetter"),
        ];
        for (bytes, name) in cases {
            let (v, what) = verdict(bytes);
            assert_eq!(v, Verdict::Dangerous, "{name}: {what:?}");
            assert!(what.iter().any(|w| w == name), "{name}: {what:?}");
        }
    }

    #[test]
    fn allow_listed_globals_are_safe_and_others_unknown() {
        assert_eq!(verdict(b"\x80\x02ccollections\nOrderedDict\n)R.").0, Verdict::Safe);
        assert_eq!(verdict(b"\x80\x02}q\x00.").0, Verdict::Safe);
        let (v, what) = verdict(b"\x80\x02cargparse\nNamespace\n)\x81.");
        assert_eq!((v, what), (Verdict::Unknown, vec!["argparse.Namespace".to_string()]));
        // A look-alike of an allowed global is not allowed.
        assert_eq!(verdict(b"\x80\x02ctorch\nSize.__class__\n.").0, Verdict::Unknown);
    }

    #[test]
    fn second_streams_nesting_and_garbage() {
        let (v, what) = verdict(b"\x80\x02N.\x80\x02cos\nsystem\n.");
        assert_eq!(v, Verdict::Dangerous);
        assert!(
            what.contains(&"second pickle stream after STOP".to_string()) && what.contains(&"os.system".to_string())
        );
        assert_eq!(verdict(b"\x80\x02N.\n").0, Verdict::Safe, "a trailing newline is no stream");
        assert_eq!(verdict(b"\x80\x02\xff.").0, Verdict::Malformed);
        assert_eq!(verdict(b"\x80\x02(N").0, Verdict::Malformed);
        // bytes holding a pickle that calls os.system.
        let inner = b"\x80\x02cos\nsystem\n.";
        let mut outer = b"\x80\x03C".to_vec();
        outer.push(inner.len() as u8);
        outer.extend_from_slice(inner);
        outer.push(b'.');
        let (findings, _) = scan_pickle(&outer, 0, &Place::default(), true);
        assert_eq!(worst(&findings), Verdict::Dangerous);
        assert_eq!(findings[0].nested, 1);
        assert_eq!(findings[0].offset, Some(4 + 2), "the GLOBAL inside the bytes, in file offsets");
    }

    #[test]
    fn computed_callables_are_not_safe() {
        // (OrderedDict())() : a REDUCE of a non-global.
        assert_eq!(verdict(b"\x80\x02ccollections\nOrderedDict\n)R)R.").0, Verdict::Unknown);
    }
}
