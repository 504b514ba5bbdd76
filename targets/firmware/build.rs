//! Prepares the test firmware for one target:
//! - for a microcontroller, `memory.x` from the target table (the linker then
//!   refuses an image that does not fit the board) and the link scripts;
//! - the kernel test vectors of `fixtures/kernels`, embedded as aligned data;
//! - the corrupt models of `fixtures/corrupt`, each embedded as the edits
//!   that make it from `models/fc_float.tflite` when it is one (so the
//!   reader test fits a 64 KiB board);
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
    let fixtures = manifest.join("../../fixtures");
    println!(
        "cargo:rerun-if-changed={}",
        fixtures.join("corrupt").display()
    );
    corrupt(&fixtures, &out);
    model(&out);
}

/// `corrupt.rs`: one function per file of `fixtures/corrupt` giving a
/// `tflm_firmware::Patched`: the bytes of `models/fc_float.tflite` (embedded
/// once), cut to the file's length and with the bytes that differ replaced,
/// when that takes few edits; else the whole file.
fn corrupt(fixtures: &Path, out: &Path) {
    let base_path = fixtures.join("models/fc_float.tflite");
    println!("cargo:rerun-if-changed={}", base_path.display());
    let base = std::fs::read(&base_path).unwrap_or_default();
    let mut files: Vec<PathBuf> = std::fs::read_dir(fixtures.join("corrupt"))
        .map(|d| d.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "tflite"));
    files.sort();
    let mut src = format!(
        "fn fc_float() -> &'static [u8] {{\n    {}\n}}\n",
        aligned(&base_path)
    );
    for path in files {
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_stem().unwrap().to_str().unwrap().to_string();
        let edits: Vec<(usize, u8)> = bytes
            .iter()
            .zip(&base)
            .enumerate()
            .filter(|(_, (a, b))| a != b)
            .map(|(i, (a, _))| (i, *a))
            .collect();
        let patch = bytes.len() <= base.len() && edits.len() <= 64;
        let (data, list) = if patch {
            let list: Vec<String> = edits.iter().map(|(i, b)| format!("({i}, {b})")).collect();
            ("fc_float()".to_string(), list.join(", "))
        } else {
            (aligned(&path), String::new())
        };
        let _ = writeln!(
            src,
            "pub fn {name}() -> tflm_firmware::Patched {{\n    tflm_firmware::Patched {{ base: {data}, len: {}, edits: &[{list}] }}\n}}",
            bytes.len()
        );
    }
    std::fs::write(out.join("corrupt.rs"), src).unwrap();
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
    // cortex-m-rt's `device` feature (the board gives a short interrupt
    // table) includes a `device.x` with handler aliases; there are none.
    std::fs::write(out.join("device.x"), "/* no device interrupt handlers */\n").unwrap();
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

/// One `Case` per vector, grouped per operator in `vectors_<op>.rs`. Each
/// case's model, inputs and expected outputs are stored back to back and
/// packed (`pack`): the first case on its own, the others with the first
/// case's bytes as a dictionary, since the models of one operator share
/// most of their structure. The firmware unpacks the first case once, then
/// one case at a time, into RAM.
fn vectors(dir: &Path, out: &Path) {
    let bins = Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("src/bin");
    let mut ops: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .map(|e| e.unwrap().path())
            .filter(|p| p.join("cases.json").exists())
            // Only the operators that have a test binary here.
            .filter(|p| {
                let name = p.file_name().unwrap().to_str().unwrap().to_lowercase();
                bins.join(format!("{name}.rs")).exists()
            })
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
        let records: Vec<CaseRecord> = cases.iter().map(|c| case_record(&op, &name, c)).collect();
        // Every case, and the cases of each class of first input (for test
        // binaries that register a kernel variant, e.g. `KERNEL_INT8`).
        emit(out, &name, "", records.iter().collect());
        for class in ["float32", "int8", "int16"] {
            let subset: Vec<&CaseRecord> = records.iter().filter(|r| r.class == class).collect();
            emit(out, &name, &format!("_{class}"), subset);
        }
        let _ = writeln!(index, "{name}");
    }
    std::fs::write(out.join("vector_ops.txt"), index).unwrap();
}

/// One case's bytes (model, inputs, expected outputs) and what describes it.
struct CaseRecord {
    name: String,
    blob: Vec<u8>,
    model: usize,
    inputs: Vec<usize>,
    outputs: Vec<usize>,
    float_out: Vec<bool>,
    tolerance: f32,
    /// The first input's type: "float32", "int16", or "int8" for the rest.
    class: &'static str,
}

fn case_record(op: &Path, name: &str, case: &serde_json::Value) -> CaseRecord {
    let case_name = case["name"].as_str().unwrap();
    let model = std::fs::read(op.join(format!("{case_name}.tflite"))).unwrap();
    let mut blob = model.clone();
    let mut io = |kind: &str, count: usize| -> Vec<usize> {
        (0..count)
            .map(|k| {
                let data = npy_data(&op.join(format!("{case_name}.{kind}_{k}.npy")));
                blob.extend_from_slice(&data);
                data.len()
            })
            .collect()
    };
    let inputs = io("input", case["inputs"].as_array().map_or(1, Vec::len));
    let outputs = io("output", case["outputs"].as_array().map_or(1, Vec::len));
    assert!(
        blob.len() <= CASE_DATA && inputs.len().max(outputs.len()) <= MAX_IO,
        "{name}/{case_name}: {} bytes and {} inputs, {} outputs; raise CASE_DATA or MAX_IO \
         (here and in src/lib.rs)",
        blob.len(),
        inputs.len(),
        outputs.len()
    );
    let dtype = |o: &serde_json::Value| o["dtype"].as_str().unwrap_or("").to_string();
    let float_out: Vec<bool> = case["outputs"]
        .as_array()
        .map(|a| a.iter().map(|o| dtype(o) == "float32").collect())
        .unwrap_or_default();
    let class = match case["inputs"]
        .as_array()
        .and_then(|a| a.first())
        .map(dtype)
        .as_deref()
    {
        Some("float32") => "float32",
        Some("int16") => "int16",
        _ => "int8",
    };
    CaseRecord {
        name: format!("{name}/{case_name}"),
        blob,
        model: model.len(),
        inputs,
        outputs,
        float_out,
        tolerance: case["tolerance"].as_f64().unwrap_or(0.0) as f32,
        class,
    }
}

/// Writes `vectors_<op><suffix>.rs`: the cases, packed against the first
/// one's bytes (the firmware unpacks the first case once, then one case at
/// a time, into RAM).
fn emit(out: &Path, op: &str, suffix: &str, cases: Vec<&CaseRecord>) {
    let data_dir = out.join(format!("{op}{suffix}"));
    std::fs::create_dir_all(&data_dir).unwrap();
    let dict: &[u8] = cases.first().map_or(&[], |c| &c.blob);
    let mut list = String::new();
    for (k, c) in cases.iter().enumerate() {
        let d: &[u8] = if k == 0 { &[] } else { dict };
        let packed = pack(&c.blob, d);
        assert_eq!(unpack(&packed, d), c.blob, "{}: packing", c.name);
        let file = data_dir.join(format!("{k}.bin"));
        std::fs::write(&file, &packed).unwrap();
        let data = format!("include_bytes!({:?})", file.display().to_string());
        let _ = writeln!(
            list,
            "    tflm_firmware::Case {{ name: {:?}, packed: {data}, model: {}, inputs: &{:?}, \
             outputs: &{:?}, float_outputs: &{:?}, tolerance: {:?} }},",
            c.name, c.model, c.inputs, c.outputs, c.float_out, c.tolerance,
        );
    }
    let src = format!("{{\nstatic CASES: &[tflm_firmware::Case] = &[\n{list}];\nCASES\n}}\n");
    std::fs::write(out.join(format!("vectors_{op}{suffix}.rs")), src).unwrap();
}

/// Bytes of one unpacked case and most inputs or outputs it has; the same
/// limits as `CASE_DATA` and `MAX_IO` in `src/lib.rs`.
const CASE_DATA: usize = 2048;
const MAX_IO: usize = 4;

/// LZ77 packing for the firmware's `unpack`: a byte `c < 0x80` is followed
/// by `c + 1` literal bytes; a byte `c >= 0x80` copies `(c & 0x7f) + 4`
/// bytes from `offset` bytes back (`u16`, little-endian), where the bytes
/// before the output are those of `dict`. Greedy longest match.
fn pack(data: &[u8], dict: &[u8]) -> Vec<u8> {
    let buf: Vec<u8> = dict.iter().chain(data).copied().collect();
    let mut out = Vec::new();
    let mut literals: Vec<u8> = Vec::new();
    let flush = |out: &mut Vec<u8>, literals: &mut Vec<u8>| {
        for run in literals.chunks(128) {
            out.push((run.len() - 1) as u8);
            out.extend_from_slice(run);
        }
        literals.clear();
    };
    let mut pos = dict.len();
    while pos < buf.len() {
        let (mut best_len, mut best_off) = (0, 0);
        for from in pos.saturating_sub(u16::MAX as usize)..pos {
            let mut len = 0;
            while pos + len < buf.len() && len < 131 && buf[from + len] == buf[pos + len] {
                len += 1;
            }
            if len > best_len {
                (best_len, best_off) = (len, pos - from);
            }
        }
        if best_len >= 4 {
            flush(&mut out, &mut literals);
            out.push(0x80 | (best_len - 4) as u8);
            out.extend_from_slice(&(best_off as u16).to_le_bytes());
            pos += best_len;
        } else {
            literals.push(buf[pos]);
            pos += 1;
        }
    }
    flush(&mut out, &mut literals);
    out
}

/// The inverse of `pack` (the firmware's `unpack`, to check it here).
fn unpack(src: &[u8], dict: &[u8]) -> Vec<u8> {
    let mut out: Vec<u8> = dict.to_vec();
    let mut i = 0;
    while i < src.len() {
        let c = src[i] as usize;
        if c < 0x80 {
            out.extend_from_slice(&src[i + 1..i + 2 + c]);
            i += 2 + c;
        } else {
            let off = u16::from_le_bytes([src[i + 1], src[i + 2]]) as usize;
            for _ in 0..(c & 0x7f) + 4 {
                out.push(out[out.len() - off]);
            }
            i += 3;
        }
    }
    out.split_off(dict.len())
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
            let repeat: u32 = std::fs::read_to_string(dir.join("repeat.txt"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(1);
            // `profile.txt` holds the number of operators to count (0: no profile).
            let profile: usize = std::fs::read_to_string(dir.join("profile.txt"))
                .ok()
                .and_then(|t| t.trim().parse().ok())
                .unwrap_or(0);
            // `kernels.txt`: "fast" registers the optimized kernels where
            // the runtime has them (tflm test --kernels fast).
            let fast = std::fs::read_to_string(dir.join("kernels.txt"))
                .is_ok_and(|k| k.trim() == "fast");
            let resolver = resolver_for(&std::fs::read(dir.join("model.tflite")).unwrap(), fast);
            resolver + &format!(
                "pub const ARENA: usize = {arena};\n\
                 pub const REPEAT: u32 = {repeat};\n\
                 pub const PROFILED_OPS: usize = {profile};\n\
                 pub const FLOAT_OUTPUTS: bool = {};\n\
                 pub static MODEL: tflm_firmware::ModelTest = tflm_firmware::ModelTest {{ model: {}, inputs: {}, expected: {}, \
                 float_outputs: &[{}] }};\n",
                float.contains("true"),
                aligned(&dir.join("model.tflite")),
                list("input"),
                list("expected"),
                float.trim()
            )
        }
        Err(_) => "pub const ARENA: usize = 16;\n\
                   pub const REPEAT: u32 = 1;\n\
                   pub const PROFILED_OPS: usize = 0;\n\
                   pub const FLOAT_OUTPUTS: bool = false;\n\
                   pub static MODEL: tflm_firmware::ModelTest = tflm_firmware::ModelTest { model: &[], inputs: &[], \
                   expected: &[], float_outputs: &[] };\n\
                   pub fn resolver() -> tflm_runtime::MutableOpResolver<1> { tflm_runtime::MutableOpResolver::new() }\n"
            .to_string(),
    };
    std::fs::write(out.join("model.rs"), src).unwrap();
}

/// The type of the first input of each use of builtin operator `name`
/// (`None` where it has none).
fn first_input_types(
    model: &tflm_runtime::Model<'_>,
    name: &str,
) -> Vec<Option<tflm_runtime::schema::TensorType>> {
    let sg = model.subgraph(0).unwrap();
    (0..sg.operators_len().unwrap())
        .filter_map(|i| {
            let op = sg.operator(i).unwrap();
            let code = model.opcode_of(&op).unwrap();
            let is_it = matches!(code.kind().unwrap(),
                tflm_runtime::schema::OpKind::Builtin(c) if c.name() == Some(name));
            let first = op.inputs().unwrap().get(0).filter(|&t| t >= 0);
            is_it.then(|| first.map(|t| sg.tensor(t as usize).unwrap().tensor_type().unwrap()))
        })
        .collect()
}

/// Whether some use of builtin operator `name` has a first input of `ty`.
fn first_input_is(
    model: &tflm_runtime::Model<'_>,
    name: &str,
    ty: tflm_runtime::schema::TensorType,
) -> bool {
    first_input_types(model, name).contains(&Some(ty))
}

/// A resolver with exactly the kernels the model uses, so only those are
/// linked: each is taken from the runtime's tables (`kernels::REFERENCE`,
/// `kernels::INT8`, and with `fast` `kernels::fast::FAST`) by its index
/// there, in a `const`, so the tables themselves are not linked. The build
/// script links the same runtime, so the indices agree; a `const`
/// assertion checks each one anyway.
fn resolver_for(model: &[u8], fast: bool) -> String {
    use tflm_runtime::kernels::{fast::FAST, INT8, REFERENCE};
    use tflm_runtime::schema::{OpKind, TensorType};
    let model = tflm_runtime::Model::from_bytes(model).unwrap_or_else(|e| panic!("model: {e}"));
    let mut ops = Vec::new();
    for i in 0..model.operator_codes_len().unwrap() {
        match model.operator_code(i).unwrap().kind().unwrap() {
            OpKind::Builtin(code) => {
                if !ops.contains(&code) {
                    ops.push(code);
                }
            }
            OpKind::Custom(name) => panic!(
                "custom operator {} has no kernel",
                String::from_utf8_lossy(name)
            ),
        }
    }
    let mut src = format!(
        "pub fn resolver() -> tflm_runtime::MutableOpResolver<{}> {{\n    #[allow(unused_imports)]\n    use tflm_runtime::kernels::{{fast::FAST, INT8, REFERENCE}};\n    let mut r = tflm_runtime::MutableOpResolver::new();\n",
        ops.len().max(1)
    );
    for code in ops {
        let name = code
            .name()
            .unwrap_or_else(|| panic!("operator code {} has no kernel", code.0));
        // An op with an int8 kernel (no float path linked) gets it when no
        // use of the op has a float input; the int8-only one when no use
        // has int16 activations either.
        let int8 = INT8.iter().position(|(c, _, _)| *c == code);
        let float = first_input_is(&model, name, TensorType::Float32);
        let int16 = first_input_is(&model, name, TensorType::Int16);
        let fast_index = FAST
            .iter()
            .position(|(c, _, _)| *c == code)
            .filter(|_| fast);
        // A fast kernel's int8-only variant (no reference float32 or int16
        // code linked) when every use of the op is on int8 tensors: ADD
        // also takes int32, so "not float, not int16" is not enough here.
        let all_int8 = first_input_types(&model, name)
            .iter()
            .all(|&ty| ty == Some(TensorType::Int8));
        let (table, index, kernel) = match (fast_index, int8) {
            (Some(j), _) if all_int8 && FAST[j].2.is_some() => (
                "FAST",
                j,
                format!("match FAST[{j}].2 {{ Some(k) => k, None => FAST[{j}].1 }}"),
            ),
            (Some(j), _) => ("FAST", j, format!("FAST[{j}].1")),
            (None, Some(j)) if !float && !int16 && INT8[j].2.is_some() => (
                "INT8",
                j,
                format!("match INT8[{j}].2 {{ Some(k) => k, None => INT8[{j}].1 }}"),
            ),
            (None, Some(j)) if !float => ("INT8", j, format!("INT8[{j}].1")),
            _ => {
                let i = REFERENCE
                    .iter()
                    .position(|(c, _)| *c == code)
                    .unwrap_or_else(|| panic!("{name}: this runtime has no kernel for it"));
                ("REFERENCE", i, format!("REFERENCE[{i}].1"))
            }
        };
        let _ = writeln!(
            src,
            "    const _: () = assert!({table}[{index}].0 .0 == {code});\n    \
             let _ = r.register(tflm_runtime::schema::op::{name}, {{ const K: tflm_runtime::Kernel = {kernel}; K }});",
            code = code.0
        );
    }
    src + "    r\n}\n"
}
