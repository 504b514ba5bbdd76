//! Prepares the test firmware for one target:
//! - for a microcontroller, `memory.x` from the target table (the linker then
//!   refuses an image that does not fit the board) and the link scripts;
//! - the kernel test vectors of `fixtures/kernels`, embedded as aligned data;
//! - for the model test, the model and its inputs and expected outputs named
//!   by `TFLM_MODEL_DIR` (written there by `tflm test --model`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap());
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap());
    println!("cargo:rerun-if-env-changed=TFLM_TARGET");
    println!("cargo:rerun-if-env-changed=TFLM_MODEL_DIR");
    println!("cargo:rerun-if-changed=build.rs");
    let bare_metal = std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("none");
    if bare_metal {
        link_for_target(&out);
    }
    let kernels = manifest.join("../../fixtures/kernels");
    println!("cargo:rerun-if-changed={}", kernels.display());
    vectors(&kernels, &out);
    model(&out);
}

fn link_for_target(out: &Path) {
    let name = std::env::var("TFLM_TARGET").unwrap_or_else(|_| {
        panic!("TFLM_TARGET is not set: build test firmware with `tflm test --target NAME`, which sets it")
    });
    let targets = tflm_targets::Targets::builtin();
    let target = targets
        .get(&name)
        .unwrap_or_else(|| panic!("TFLM_TARGET={name} is not in targets/targets.toml"));
    let memory = target
        .memory_x()
        .unwrap_or_else(|| panic!("target {name} has no memory map"));
    std::fs::write(out.join("memory.x"), memory).unwrap();
    // The stack reserve must fit between the static data and the top of RAM.
    std::fs::write(
        out.join("tflm.x"),
        "ASSERT(_stack_start - __sheap >= _tflm_stack_reserve, \"tflm: static data leaves less RAM than the \
         target's stack reserve (targets/targets.toml)\");\n",
    )
    .unwrap();
    println!("cargo:rustc-link-search={}", out.display());
    println!("cargo:rustc-link-arg=--nmagic");
    if target.triple.starts_with("riscv") {
        println!("cargo:rustc-link-arg=-Tmemory.x");
    }
    println!("cargo:rustc-link-arg=-Tlink.x");
    println!("cargo:rustc-link-arg=-Ttflm.x");
}

/// The data bytes of an `.npy` file (everything after its header).
fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x93NUMPY"),
        "{}: not an .npy file",
        path.display()
    );
    let start = match bytes[6] {
        1 => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        _ => 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
    };
    bytes[start..].to_vec()
}

/// Rust source for `&[u8]` data from a file, 16-byte aligned.
fn aligned(path: &Path) -> String {
    format!(
        "tflm_firmware::aligned_bytes!({:?})",
        path.display().to_string()
    )
}

/// One `Case` per vector, grouped per operator in `vectors_<op>.rs`.
fn vectors(dir: &Path, out: &Path) {
    let mut ops: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("cases.json").exists())
            .collect(),
        Err(_) => Vec::new(),
    };
    ops.sort();
    let mut index = String::new();
    for op in ops {
        let name = op.file_name().unwrap().to_str().unwrap().to_lowercase();
        let cases: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(op.join("cases.json")).unwrap()).unwrap();
        let cases = cases
            .as_array()
            .or_else(|| cases["cases"].as_array())
            .expect("cases.json lists cases");
        let mut src = String::from("{\nstatic CASES: &[tflm_firmware::Case] = &[\n");
        for case in cases {
            let case_name = case["name"].as_str().unwrap();
            let model = op.join(format!("{case_name}.tflite"));
            let data_dir = out.join(&name);
            std::fs::create_dir_all(&data_dir).unwrap();
            let io = |kind: &str, count: usize| -> String {
                let mut list = String::from("&[");
                for k in 0..count {
                    let raw = data_dir.join(format!("{case_name}.{kind}_{k}.bin"));
                    std::fs::write(
                        &raw,
                        npy_data(&op.join(format!("{case_name}.{kind}_{k}.npy"))),
                    )
                    .unwrap();
                    let _ = write!(list, "{},", aligned(&raw));
                }
                list + "]"
            };
            let inputs = io("input", case["inputs"].as_array().map_or(1, Vec::len));
            let outputs = io("output", case["outputs"].as_array().map_or(1, Vec::len));
            let float_out: Vec<bool> = case["outputs"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|o| o["dtype"].as_str() == Some("float32"))
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                src,
                "    tflm_firmware::Case {{ name: {:?}, model: {}, inputs: {inputs}, outputs: {outputs}, \
                 float_outputs: &{float_out:?}, tolerance: {:?} }},",
                format!("{name}/{case_name}"),
                aligned(&model),
                case["tolerance"].as_f64().unwrap_or(0.0) as f32,
            );
        }
        src += "];\nCASES\n}\n";
        std::fs::write(out.join(format!("vectors_{name}.rs")), src).unwrap();
        let _ = writeln!(index, "{name}");
    }
    std::fs::write(out.join("vector_ops.txt"), index).unwrap();
}

/// The model test's data: model, inputs, expected outputs, from
/// `TFLM_MODEL_DIR` (model.tflite, input_K.bin, expected_K.bin, arena.txt).
fn model(out: &Path) {
    let src = match std::env::var("TFLM_MODEL_DIR") {
        Ok(dir) => {
            let dir = PathBuf::from(dir);
            println!("cargo:rerun-if-changed={}", dir.display());
            let count = |prefix: &str| (0..).take_while(|k| dir.join(format!("{prefix}_{k}.bin")).exists()).count();
            let list = |prefix: &str| {
                let items: Vec<String> =
                    (0..count(prefix)).map(|k| aligned(&dir.join(format!("{prefix}_{k}.bin")))).collect();
                format!("&[{}]", items.join(", "))
            };
            let arena: usize = std::fs::read_to_string(dir.join("arena.txt"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(16 * 1024);
            let float: String = std::fs::read_to_string(dir.join("float_outputs.txt")).unwrap_or_default();
            let resolver = resolver_for(&std::fs::read(dir.join("model.tflite")).unwrap());
            resolver + &format!(
                "pub const ARENA: usize = {arena};\n\
                 pub static MODEL: tflm_firmware::ModelTest = tflm_firmware::ModelTest {{ model: {}, inputs: {}, expected: {}, \
                 float_outputs: &[{}] }};\n",
                aligned(&dir.join("model.tflite")),
                list("input"),
                list("expected"),
                float.trim()
            )
        }
        Err(_) => "pub const ARENA: usize = 16;\n\
                   pub static MODEL: tflm_firmware::ModelTest = tflm_firmware::ModelTest { model: &[], inputs: &[], \
                   expected: &[], float_outputs: &[] };\n\
                   pub fn resolver() -> tflm_runtime::MutableOpResolver<1> { tflm_runtime::MutableOpResolver::new() }\n"
            .to_string(),
    };
    std::fs::write(out.join("model.rs"), src).unwrap();
}

/// A resolver with exactly the kernels the model uses, so only those are
/// linked (each operator's kernel module is named after it, lower case).
fn resolver_for(model: &[u8]) -> String {
    let model = tflm_runtime::Model::from_bytes(model).unwrap_or_else(|e| panic!("model: {e}"));
    let mut ops: Vec<String> = Vec::new();
    for i in 0..model.operator_codes_len().unwrap() {
        match model.operator_code(i).unwrap().kind().unwrap() {
            tflm_runtime::schema::OpKind::Builtin(code) => {
                let name = code
                    .name()
                    .unwrap_or_else(|| panic!("operator code {} is unknown", code.0));
                if !ops.iter().any(|o| o == name) {
                    ops.push(name.to_string());
                }
            }
            tflm_runtime::schema::OpKind::Custom(name) => {
                panic!("custom operator {name} has no kernel")
            }
        }
    }
    let mut src = format!(
        "pub fn resolver() -> tflm_runtime::MutableOpResolver<{}> {{\n    let mut r = tflm_runtime::MutableOpResolver::new();\n",
        ops.len().max(1)
    );
    for op in &ops {
        let _ = writeln!(
            src,
            "    let _ = r.register(tflm_runtime::schema::op::{op}, tflm_runtime::kernels::{}::KERNEL);",
            op.to_lowercase()
        );
    }
    src + "    r\n}\n"
}
