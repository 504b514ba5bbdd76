//! What this machine has for building and running tests, and what to
//! install for what is missing.

use crate::runner::{check_available, which};
use serde::Serialize;
use std::process::Command;
use tflm_targets::{RunnerKind, Targets};

/// One thing checked.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Finding {
    pub what: String,
    pub ok: bool,
    /// Version or location when found; how to get it when not.
    pub detail: String,
}

fn first_line(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    text.lines().next().map(|l| l.trim().to_string())
}

/// Rust targets installed with rustup.
pub fn installed_rust_targets() -> Option<Vec<String>> {
    let out = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .ok()?;
    out.status.success().then(|| {
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_string)
            .collect()
    })
}

/// Checks the toolchain, each target's Rust target and each runner's tools.
pub fn check(targets: &Targets) -> Vec<Finding> {
    let mut found = Vec::new();
    found.push(match first_line("cargo", &["--version"]) {
        Some(v) => Finding {
            what: "cargo".into(),
            ok: true,
            detail: v,
        },
        None => Finding {
            what: "cargo".into(),
            ok: false,
            detail: "install Rust with rustup (https://rustup.rs)".into(),
        },
    });
    let installed = installed_rust_targets();
    let mut triples: Vec<&str> = targets
        .all()
        .iter()
        .filter(|t| !t.is_native())
        .map(|t| t.triple.as_str())
        .collect();
    triples.sort();
    triples.dedup();
    for triple in triples {
        let ok = installed
            .as_ref()
            .is_some_and(|list| list.iter().any(|t| t == triple));
        found.push(Finding {
            what: format!("Rust target {triple}"),
            ok,
            detail: if ok {
                "installed".into()
            } else {
                format!("run `rustup target add {triple}`")
            },
        });
    }
    let mut systems: Vec<&str> = targets
        .all()
        .iter()
        .filter_map(|t| t.qemu.as_ref())
        .map(|q| q.system.as_str())
        .collect();
    systems.sort();
    systems.dedup();
    for system in systems {
        found.push(match which(system) {
            Some(path) => Finding {
                what: system.to_string(),
                ok: true,
                detail: first_line(system, &["--version"])
                    .unwrap_or_else(|| path.display().to_string()),
            },
            None => {
                let target = targets
                    .all()
                    .iter()
                    .find(|t| t.qemu.as_ref().is_some_and(|q| q.system == system));
                let hint = target
                    .map(|t| check_available(t, RunnerKind::Qemu))
                    .and_then(Result::err)
                    .map(|e| e.to_string())
                    .unwrap_or_default();
                Finding {
                    what: system.to_string(),
                    ok: false,
                    detail: hint,
                }
            }
        });
    }
    found
}

/// Docker, which only `--docker` and the renode runner need: whether a
/// daemon answers (and its version), and the images built for tflm
/// (`tflm/qemu:*`, `tflm/renode:*`). Each finding's `what` ends with
/// "(optional)"; none makes the machine unfit for the other runners.
pub fn docker() -> Vec<Finding> {
    use crate::docker::{Docker, IMAGE_REPO};
    let optional = |what: &str| format!("{what} (optional)");
    let docker = match Docker::connect() {
        Ok(d) => d,
        Err(e) => {
            return vec![Finding {
                what: optional("docker"),
                ok: false,
                detail: format!("{e}; needed only for --docker and the renode runner"),
            }]
        }
    };
    let mut found = vec![Finding {
        what: optional("docker"),
        ok: true,
        detail: match docker.version() {
            Ok(v) => format!("{v} at {}", docker.host()),
            Err(e) => e.to_string(),
        },
    }];
    for name in ["qemu", "renode"] {
        let repository = format!("{IMAGE_REPO}/{name}");
        let (ok, detail) = match docker.image_tags(&repository) {
            Ok(tags) if tags.is_empty() => (
                false,
                format!(
                    "not built yet (built on first use of --runner {name}{})",
                    if name == "qemu" { " --docker" } else { "" }
                ),
            ),
            Ok(tags) => (true, tags.join(", ")),
            Err(e) => (false, e.to_string()),
        };
        found.push(Finding {
            what: optional(&format!("image {repository}")),
            ok,
            detail,
        });
    }
    found
}

/// Debug probes, which only the probe-rs runner needs (optional).
pub fn probes() -> Vec<Finding> {
    let listed = crate::probe::list_probes();
    if listed.is_empty() {
        return vec![Finding {
            what: "debug probes (optional)".into(),
            ok: false,
            detail: "none attached; needed only for --runner probe-rs".into(),
        }];
    }
    listed
        .into_iter()
        .map(|p| Finding {
            what: format!("debug probe {} (optional)", p.selector),
            ok: p.accessible,
            detail: if p.accessible {
                p.identifier
            } else {
                format!("{}: no permission (add a udev rule for it)", p.identifier)
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_cargo_targets_and_emulators() {
        let f = check(&Targets::builtin());
        assert!(f.iter().any(|x| x.what == "cargo" && x.ok), "{f:?}");
        assert!(f.iter().any(|x| x.what == "Rust target thumbv7m-none-eabi"));
        assert!(f.iter().any(|x| x.what == "qemu-system-arm"));
        for x in f.iter().filter(|x| !x.ok) {
            assert!(
                !x.detail.is_empty(),
                "{x:?} says nothing about how to fix it"
            );
        }
    }
}
