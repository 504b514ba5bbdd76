//! `tflm size --arena`: the exact arena a model needs, and where each tensor goes.

use crate::bench::{Kernels, PlanningArg};
use crate::host::{runtime_error, Arena, BIG_ARENA};
use anyhow::Result;
use comfy_table::{presets, CellAlignment, Table};
use serde::Serialize;
use std::path::Path;
use tflm_runtime::interpreter::PlannedKind;
use tflm_runtime::resolver::FastOpsResolver;
use tflm_runtime::{AllOpsResolver, Interpreter, Model, OpResolver};

#[derive(Serialize)]
pub struct ArenaReport {
    pub model: String,
    /// The target asked for, if any (the figure is the same on every target).
    pub target: Option<String>,
    /// The kernels planned with: their per-op data and scratch differ.
    pub kernels: Kernels,
    /// How hard the planner worked.
    pub planning: PlanningArg,
    /// Bytes `allocate_tensors` needs: an arena of exactly this size works.
    pub arena_bytes: usize,
    pub activations_bytes: usize,
    pub scratch_bytes: usize,
    pub persistent_bytes: usize,
    /// Planner working memory beyond the activations, needed only while allocating.
    pub planning_bytes: usize,
    /// Largest sum of live activations (16-byte aligned) at one operator.
    pub lower_bound_bytes: usize,
    pub tensors: Vec<PlannedRow>,
}

#[derive(Serialize)]
pub struct PlannedRow {
    pub index: usize,
    pub name: String,
    pub kind: &'static str,
    pub offset: Option<usize>,
    pub bytes: usize,
    pub first_op: Option<usize>,
    pub last_op: Option<usize>,
}

pub fn arena_report(
    path: &Path,
    model: &Model<'_>,
    target: Option<&str>,
    kernels: Kernels,
    planning: PlanningArg,
) -> Result<ArenaReport> {
    match kernels {
        Kernels::Reference => plan(path, model, target, (kernels, planning), &AllOpsResolver),
        Kernels::Fast => plan(path, model, target, (kernels, planning), &FastOpsResolver),
    }
}

fn plan<R: OpResolver>(
    path: &Path,
    model: &Model<'_>,
    target: Option<&str>,
    (kernels, planning): (Kernels, PlanningArg),
    resolver: &R,
) -> Result<ArenaReport> {
    let mut arena = Arena::new(BIG_ARENA);
    let mut interpreter = Interpreter::new(model, resolver, arena.bytes());
    interpreter.set_planning(planning.planning());
    interpreter
        .allocate_tensors()
        .map_err(|e| runtime_error(path, model, e))?;
    let usage = interpreter.arena_usage()?;
    let sg = model.subgraph(0)?;
    let mut tensors = Vec::new();
    for k in 0..sg.tensors_len()? {
        let p = interpreter.planned_tensor(k)?;
        let (kind, in_arena) = match p.kind {
            PlannedKind::Activation => ("activation", true),
            PlannedKind::Alias => ("view", true),
            PlannedKind::Constant => ("constant", false),
            PlannedKind::Variable => ("variable", true),
            PlannedKind::Unused => ("unused", false),
        };
        let lifetime = matches!(p.kind, PlannedKind::Activation | PlannedKind::Alias);
        tensors.push(PlannedRow {
            index: k,
            name: sg.tensor(k)?.name()?.unwrap_or("").to_string(),
            kind,
            offset: in_arena.then_some(p.offset),
            bytes: p.bytes,
            first_op: lifetime.then_some(p.first_op),
            last_op: lifetime.then_some(p.last_op),
        });
    }
    Ok(ArenaReport {
        planning,
        model: path.display().to_string(),
        target: target.map(str::to_string),
        kernels,
        arena_bytes: usage.total,
        activations_bytes: usage.activations,
        // The host's runtime is built with `greedy-plan`, which computes
        // these figures: they are always there.
        scratch_bytes: usage.scratch.unwrap_or_default(),
        persistent_bytes: usage.persistent,
        planning_bytes: usage.planning,
        lower_bound_bytes: usage.lower_bound.unwrap_or_default(),
        tensors,
    })
}

pub fn render(r: &ArenaReport) -> String {
    let mut out = String::new();
    let bound = if r.activations_bytes == r.lower_bound_bytes {
        "at the lower bound".to_string()
    } else {
        format!("lower bound {}", r.lower_bound_bytes)
    };
    out += &format!("Arena for {}", r.model);
    if let Some(t) = &r.target {
        out += &format!(" on {t}");
    }
    if r.kernels == Kernels::Fast {
        out += " with the fast kernels";
    }
    match r.planning {
        PlanningArg::FirstFit => out += ", first-fit planning",
        PlanningArg::Greedy => out += ", greedy planning",
        PlanningArg::Exact => {}
    }
    out += "\n";
    out += &format!(
        "  total        {:>8} bytes  (an arena of exactly this size works)\n",
        r.arena_bytes
    );
    out += &format!(
        "  activations  {:>8} bytes  ({bound})\n",
        r.activations_bytes
    );
    out += &format!(
        "    scratch    {:>8} bytes  (largest at one operator)\n",
        r.scratch_bytes
    );
    out += &format!(
        "  persistent   {:>8} bytes  (tensor and operator tables, per-op data, variables)\n",
        r.persistent_bytes
    );
    if r.planning_bytes > 0 {
        out += &format!(
            "  planning     {:>8} bytes  (planner working memory, during allocate only)\n",
            r.planning_bytes
        );
    }
    out += "  The layout holds no pointers: the figure is the same on a 32-bit target and on this host.\n";
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(vec![
        "#", "tensor", "kind", "offset", "bytes", "first op", "last op",
    ]);
    let opt = |v: Option<usize>| v.map(|v| v.to_string()).unwrap_or_default();
    for row in &r.tensors {
        t.add_row(vec![
            row.index.to_string(),
            row.name.clone(),
            row.kind.to_string(),
            opt(row.offset),
            row.bytes.to_string(),
            opt(row.first_op),
            opt(row.last_op),
        ]);
    }
    for c in [0, 3, 4, 5, 6] {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    out += &format!("\nTensor plan\n{t}\n");
    out
}

/// `tflm size ELF...` or `tflm size --target T`: flash and RAM of firmware.
pub fn firmware(
    paths: &[std::path::PathBuf],
    target: Option<&tflm_targets::Target>,
    json: bool,
    top: usize,
) -> Result<()> {
    use tflm_harness::elf_size::{by_crate, elf_size};
    let files: Vec<std::path::PathBuf> = if !paths.is_empty() {
        paths.to_vec()
    } else if let Some(t) = target {
        let checkout = tflm_harness::firmware::find_checkout(&std::env::current_dir()?)?;
        eprintln!("building test firmware for {} ({})...", t.name, t.triple);
        tflm_harness::firmware::build(&checkout, t, &[], None)?
            .into_iter()
            .filter(|b| b.name != "model")
            .map(|b| b.path)
            .collect()
    } else {
        anyhow::bail!("tflm size needs ELF files, --target T (to build and size its test firmware), or --arena MODEL");
    };
    let stack = target.map(|t| t.stack).unwrap_or(0);
    let sizes = files
        .iter()
        .map(|f| elf_size(f, stack).map_err(anyhow::Error::from))
        .collect::<Result<Vec<_>>>()?;
    if json {
        println!("{}", serde_json::to_string_pretty(&sizes)?);
        return Ok(());
    }
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(vec![
        "binary",
        "flash",
        "RAM",
        "text",
        "data",
        "bss",
        "stack reserve",
    ]);
    for s in &sizes {
        let name = s
            .path
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        t.add_row(vec![
            name,
            s.flash.to_string(),
            s.ram.to_string(),
            s.text.to_string(),
            s.data.to_string(),
            s.bss.to_string(),
            s.stack_reserve.to_string(),
        ]);
    }
    for c in 1..7 {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    println!("{t}");
    if let Some(tg) = target {
        if let (Some(flash), Some(ram)) = (tg.flash, tg.ram) {
            println!(
                "{}: flash {} bytes, RAM {} bytes",
                tg.name, flash.size, ram.size
            );
        }
    }
    for s in &sizes {
        println!("\n{}", s.path.display());
        let crates: Vec<String> = by_crate(&s.symbols)
            .iter()
            .take(6)
            .map(|(c, b)| format!("{c} {b}"))
            .collect();
        println!("  by crate: {}", crates.join(", "));
        let r = &s.runtime;
        if r.core > 0 {
            println!(
                "  tflm runtime: core {} bytes (interpreter {}, planner {}, reader {}, kernel API {}, other {}), kernels {} bytes",
                r.core, r.interpreter, r.planner, r.reader, r.kernel_api, r.other, r.kernels
            );
        }
        for sym in s.symbols.iter().take(top) {
            println!("  {:>7}  {}", sym.size, sym.name);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The conv_int8 fixture: its path and bytes.
    fn conv_fixture() -> (std::path::PathBuf, Vec<u8>) {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/models/conv_int8.tflite");
        let bytes = std::fs::read(&path).unwrap();
        (path, bytes)
    }

    #[test]
    fn plans_with_either_kernel_set() {
        let (path, bytes) = conv_fixture();
        let model = Model::from_bytes(&bytes).unwrap();
        let reference =
            arena_report(&path, &model, None, Kernels::Reference, PlanningArg::Exact).unwrap();
        let fast = arena_report(&path, &model, None, Kernels::Fast, PlanningArg::Exact).unwrap();
        assert_eq!(fast.kernels, Kernels::Fast);
        // The same tensors; the per-op data and scratch may differ.
        assert_eq!(fast.tensors.len(), reference.tensors.len());
        assert!(fast.arena_bytes > 0 && reference.arena_bytes > 0);
        assert!(render(&fast).contains("with the fast kernels"));
        assert!(!render(&reference).contains("fast"));
    }

    #[test]
    fn first_fit_planning_needs_at_least_the_exact_plans_arena() {
        let (path, bytes) = conv_fixture();
        let model = Model::from_bytes(&bytes).unwrap();
        let plan = |p| arena_report(&path, &model, None, Kernels::Reference, p).unwrap();
        let (first_fit, exact) = (plan(PlanningArg::FirstFit), plan(PlanningArg::Exact));
        assert!(first_fit.activations_bytes >= exact.activations_bytes);
        assert!(exact.activations_bytes >= exact.lower_bound_bytes);
        assert!(render(&first_fit).contains("first-fit planning"));
        assert!(!render(&exact).contains("planning"));
    }
}
