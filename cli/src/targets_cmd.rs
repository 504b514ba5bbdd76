//! `tflm targets` and `tflm doctor`: what tflm can build and run here.

use anyhow::Result;
use comfy_table::{presets, Table};
use serde::Serialize;
use tflm_harness::doctor;
use tflm_harness::runner::check_available;
use tflm_targets::{Target, Targets};

#[derive(Serialize)]
struct RunnerRow {
    runner: String,
    available: bool,
    note: String,
}

#[derive(Serialize)]
struct TargetRow {
    name: String,
    description: String,
    cpu: String,
    triple: String,
    flash_bytes: Option<u64>,
    ram_bytes: Option<u64>,
    runners: Vec<RunnerRow>,
}

fn kib(bytes: Option<u64>) -> String {
    match bytes {
        Some(b) if b >= 1 << 20 => format!("{} MiB", b >> 20),
        Some(b) => format!("{} KiB", b >> 10),
        None => "-".into(),
    }
}

fn rows(targets: &Targets) -> Vec<TargetRow> {
    targets
        .all()
        .iter()
        .map(|t: &Target| TargetRow {
            name: t.name.clone(),
            description: t.description.clone(),
            cpu: t.cpu.clone(),
            triple: t.triple.clone(),
            flash_bytes: t.flash.map(|r| r.size),
            ram_bytes: t.ram.map(|r| r.size),
            runners: t
                .runners
                .iter()
                .map(|&r| {
                    let check = check_available(t, r);
                    RunnerRow {
                        runner: r.name().to_string(),
                        available: check.is_ok(),
                        note: check.err().map(|e| e.to_string()).unwrap_or_default(),
                    }
                })
                .collect(),
        })
        .collect()
}

pub fn targets(json: bool) -> Result<()> {
    let rows = rows(&Targets::builtin());
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(vec![
        "target",
        "cpu",
        "triple",
        "flash",
        "ram",
        "runners (* = works here)",
    ]);
    for r in &rows {
        let runners: Vec<String> = r
            .runners
            .iter()
            .map(|x| {
                if x.available {
                    format!("{}*", x.runner)
                } else {
                    x.runner.clone()
                }
            })
            .collect();
        t.add_row(vec![
            r.name.clone(),
            r.cpu.clone(),
            r.triple.clone(),
            kib(r.flash_bytes),
            kib(r.ram_bytes),
            runners.join(" "),
        ]);
    }
    println!("{t}");
    let mut notes: Vec<String> = rows
        .iter()
        .flat_map(|r| {
            r.runners
                .iter()
                .filter(|x| !x.available)
                .map(|x| x.note.clone())
        })
        .filter(|n| !n.is_empty() && !n.contains("cannot run with"))
        .collect();
    notes.sort();
    notes.dedup();
    for n in notes {
        println!("note: {n}");
    }
    Ok(())
}

/// Prints what is there and what is missing; fails when something is
/// missing (Docker and its images are optional: reported, never a failure).
pub fn doctor(json: bool) -> Result<bool> {
    let mut findings = doctor::check(&Targets::builtin());
    let all_required_ok = findings.iter().all(|f| f.ok);
    findings.extend(doctor::docker());
    findings.extend(doctor::probes());
    if json {
        println!("{}", serde_json::to_string_pretty(&findings)?);
    } else {
        for f in &findings {
            println!(
                "{:<7} {:<34} {}",
                match (f.ok, f.what.ends_with("(optional)")) {
                    (true, _) => "ok",
                    (false, true) => "absent",
                    (false, false) => "MISSING",
                },
                f.what,
                f.detail
            );
        }
    }
    Ok(all_required_ok)
}
