//! The behaviour TFLM's examples expect, on the real example models in
//! `../shared/models` (skipped when that folder is not there):
//! hello_world follows sin(x), person_detect tells the person image from
//! the other one, exactly as TFLM does.

mod common;

use std::path::{Path, PathBuf};
use tflm_runtime::{AllOpsResolver, Interpreter, Model};

fn shared(rel: &str) -> Option<PathBuf> {
    let p = common::shared_models()
        .first()?
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == "models"))?
        .join(rel);
    p.exists().then_some(p)
}

fn zoo(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fixtures/zoo")
        .join(rel)
}

fn aligned(bytes: &[u8]) -> Vec<u128> {
    let mut words = vec![0u128; bytes.len().div_ceil(16)];
    bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
    words
}

/// Runs `model` once on `input` (raw bytes of input 0); returns output 0's bytes.
fn run(model_bytes: &[u8], input: &[u8]) -> (Vec<u8>, f32, i32) {
    let words = aligned(model_bytes);
    let model =
        Model::from_bytes(&bytemuck::cast_slice::<u128, u8>(&words)[..model_bytes.len()]).unwrap();
    let mut arena = vec![0u128; 1 << 14];
    let mut it = Interpreter::new(
        &model,
        &AllOpsResolver,
        bytemuck::cast_slice_mut(&mut arena),
    );
    it.allocate_tensors().unwrap();
    it.input_mut(0).unwrap().data.copy_from_slice(input);
    it.invoke().unwrap();
    let info = it.io_info(true, 0).unwrap();
    (
        it.output(0).unwrap().data.to_vec(),
        info.scale,
        info.zero_point,
    )
}

fn npy_data(path: &Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    let header_len = u16::from_le_bytes([bytes[8], bytes[9]]) as usize;
    bytes[10 + header_len..].to_vec()
}

#[test]
fn hello_world_follows_the_sine_like_tflm() {
    let Some(int8) = shared("hello_world_int8.tflite") else {
        eprintln!("../shared/models is not here; skipped");
        return;
    };
    let float = shared("hello_world_float.tflite").unwrap();
    for (path, flavour) in [(int8, "int8"), (float, "float")] {
        let sine: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(zoo(&format!("hello_world_{flavour}/sine.json"))).unwrap(),
        )
        .unwrap();
        let model = std::fs::read(&path).unwrap();
        for p in sine["points"].as_array().unwrap() {
            let x = p["x"].as_f64().unwrap() as f32;
            let y = if flavour == "int8" {
                let x_q = p["x_q"].as_i64().unwrap() as i8;
                let (out, scale, zp) = run(&model, &[x_q as u8]);
                let y_q = out[0] as i8;
                assert_eq!(
                    y_q as i64,
                    p["y_q"].as_i64().unwrap(),
                    "x = {x}: y_q differs from TFLM's"
                );
                (y_q as i32 - zp) as f32 * scale
            } else {
                let (out, _, _) = run(&model, &x.to_le_bytes());
                let y = f32::from_le_bytes([out[0], out[1], out[2], out[3]]);
                let tflm = p["y"].as_f64().unwrap() as f32;
                assert!((y - tflm).abs() <= 1e-5, "x = {x}: {y} vs TFLM {tflm}");
                y
            };
            assert!(
                (x.sin() - y).abs() <= 0.05,
                "{flavour} x = {x}: y = {y}, sin = {}",
                x.sin()
            );
        }
    }
}

/// The 96x96 8-bit pixels of a BMP, top row first (BMPs store rows bottom-up).
fn bmp_pixels(path: &Path) -> Vec<u8> {
    let b = std::fs::read(path).unwrap();
    let u32_at = |i: usize| u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]);
    let (offset, width, height) = (u32_at(10) as usize, u32_at(18) as usize, u32_at(22) as i32);
    assert_eq!(u16::from_le_bytes([b[28], b[29]]), 8, "8-bit BMP expected");
    let stride = width.div_ceil(4) * 4;
    let rows = height.unsigned_abs() as usize;
    let mut out = Vec::with_capacity(width * rows);
    for r in 0..rows {
        let stored = if height > 0 { rows - 1 - r } else { r };
        out.extend_from_slice(&b[offset + stored * stride..offset + stored * stride + width]);
    }
    out
}

#[test]
#[cfg_attr(miri, ignore = "two person_detect inferences: too slow under Miri")]
fn person_detect_tells_person_from_no_person_like_tflm() {
    let (Some(model), Some(images)) = (shared("person_detect.tflite"), shared("inputs")) else {
        eprintln!("../shared/models is not here; skipped");
        return;
    };
    let model = std::fs::read(model).unwrap();
    for (image, person) in [("person", true), ("no_person", false)] {
        // TFLM's example copies the BMP's bytes into the int8 input as they are.
        let input = bmp_pixels(&images.join(format!("{image}.bmp")));
        assert_eq!(
            input,
            npy_data(&zoo(&format!("person_detect/{image}_input.npy"))),
            "{image}: input bytes"
        );
        let (out, _, _) = run(&model, &input);
        assert_eq!(
            out,
            npy_data(&zoo(&format!("person_detect/{image}_output.npy"))),
            "{image}: TFLM differs"
        );
        let (no, yes) = (out[0] as i8, out[1] as i8);
        assert_eq!(
            yes > no,
            person,
            "{image}: scores person {yes}, no person {no}"
        );
    }
}
