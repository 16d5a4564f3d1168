//! The error-id registry (issue 11): every `HG-…` id the sources answer with is registered with
//! its status and meaning, and docs/api.md lists every registered id with that status.

use std::path::{Path, PathBuf};

use hg_platform::problem::registry::{ERROR_IDS, lookup};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The `"HG-…"` string literals of a source text.
fn ids_in(text: &str) -> Vec<String> {
    let mut ids = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find("\"HG-") {
        let tail = &rest[i + 1..];
        let end = tail
            .find(|c: char| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-'))
            .unwrap_or(tail.len());
        if end > "HG-".len() && tail[end..].starts_with('"') {
            ids.push(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    ids
}

#[test]
fn every_error_id_in_the_sources_is_registered() {
    let mut files = Vec::new();
    for krate in std::fs::read_dir(workspace().join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            sources(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "the sources were found");
    let mut unknown = Vec::new();
    for file in files {
        for id in ids_in(&std::fs::read_to_string(&file).unwrap()) {
            if lookup(&id).is_none() {
                unknown.push(format!("{id} ({})", file.display()));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "register these in hg_platform::problem::registry: {unknown:?}"
    );
}

#[test]
fn docs_api_lists_every_registered_id_with_its_status() {
    let doc = std::fs::read_to_string(workspace().join("docs/api.md")).unwrap();
    for e in ERROR_IDS {
        let row = format!("| {} | `{}` |", e.status, e.id);
        assert!(doc.contains(&row), "docs/api.md lacks the row {row}");
    }
}
