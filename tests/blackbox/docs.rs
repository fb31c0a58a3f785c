//! Documentation that other tools rely on stays true to the code.

use std::collections::BTreeSet;
use std::path::Path;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            if !matches!(
                p.file_name().and_then(|n| n.to_str()),
                // third_party: vendored crates, not our codes.
                Some("target" | "tests" | "benches" | "test-components" | "third_party")
            ) {
                rust_files(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `"SOME_CODE"` literals in shipped code (unit-test modules excluded).
fn codes_in(text: &str) -> BTreeSet<String> {
    let shipped = text.split("#[cfg(test)]").next().unwrap_or("");
    let mut out = BTreeSet::new();
    for piece in shipped.split('"').skip(1).step_by(2) {
        let looks = piece.len() >= 5
            && piece.contains('_')
            && piece
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            && piece.starts_with(|c: char| c.is_ascii_uppercase());
        if looks {
            out.insert(piece.to_owned());
        }
    }
    out
}

/// Environment variables and form field codes that are not error codes.
fn not_a_code(c: &str) -> bool {
    [
        "CARGO_",
        "TOWNHALL_",
        "RUSTC_",
        "MEILISEARCH_",
        "OPEN311_BENCH_",
        "DATABASE_URL",
    ]
    .iter()
    .any(|p| c.starts_with(p))
        || ["MAKE_MODEL", "ROUTE_DAY"].contains(&c)
}

#[test]
fn every_error_code_is_documented() {
    let root = townhall_testkit::workspace_root();
    let doc = std::fs::read_to_string(root.join("docs/errors.md")).unwrap();
    let mut files = Vec::new();
    rust_files(&root.join("core"), &mut files);
    let mut missing = BTreeSet::new();
    let mut seen = 0;
    for f in files {
        for code in codes_in(&std::fs::read_to_string(&f).unwrap()) {
            if not_a_code(&code) {
                continue;
            }
            seen += 1;
            if !doc.contains(&format!("`{code}`")) {
                missing.insert(format!("{code} ({})", f.strip_prefix(&root).unwrap().display()));
            }
        }
    }
    assert!(seen > 60, "the scan found too few codes to be working");
    assert!(missing.is_empty(), "codes missing from docs/errors.md: {missing:#?}");
}
