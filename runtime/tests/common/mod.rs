//! Shared by the runtime's integration tests: where the test models are.

use std::path::{Path, PathBuf};

fn tflite_files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            tflite_files_under(&p, out);
        } else if p.extension().is_some_and(|e| e == "tflite") {
            out.push(p);
        }
    }
}

/// The project's own fixture models (valid ones; the corrupt ones live apart).
pub fn fixture_models() -> Vec<PathBuf> {
    let mut out = Vec::new();
    tflite_files_under(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models"),
        &mut out,
    );
    assert!(
        !out.is_empty(),
        "no fixture models found under fixtures/models"
    );
    out
}

/// The model zoo in `../shared/models` next to the checkout (or `$TFLM_SHARED_MODELS`),
/// when it is there; empty otherwise, since users do not have it.
pub fn shared_models() -> Vec<PathBuf> {
    let dir = std::env::var_os("TFLM_SHARED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models"));
    let mut out = Vec::new();
    tflite_files_under(&dir, &mut out);
    out
}

#[allow(dead_code)]
pub fn all_models() -> Vec<PathBuf> {
    let mut v = fixture_models();
    v.extend(shared_models());
    v
}

/// The folder `shared_models` looks in (`$TFLM_SHARED_MODELS`, else
/// `../shared/models` next to the checkout), whether or not it exists.
#[allow(dead_code)]
pub fn shared_models_dir() -> PathBuf {
    std::env::var_os("TFLM_SHARED_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/models"))
}
