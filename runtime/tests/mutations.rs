//! Damaged models: thousands of seeded mutations of real models must each
//! give an error or a model whose every field reads back, never a panic.

mod common;

use tflm_runtime::schema::{read_everything, Model};
use tflm_runtime::{AllOpsResolver, Interpreter};

/// A small deterministic generator (xorshift64*), so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, model: &[u8]) -> Vec<u8> {
    let mut m = model.to_vec();
    match rng.below(5) {
        // Flip a few random bytes anywhere.
        0 => {
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                m[i] ^= 1 << rng.below(8);
            }
        }
        // Overwrite an aligned word with an extreme value: hits offsets, lengths and indices.
        1 => {
            let i = rng.below(m.len() / 4) * 4;
            let v: u32 = [0, 1, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 0xfffc][rng.below(6)];
            m[i..i + 4].copy_from_slice(&v.to_le_bytes());
        }
        // Cut the file short.
        2 => m.truncate(rng.below(m.len())),
        // Overwrite a 16-bit vtable-sized value.
        3 => {
            let i = rng.below(m.len() / 2) * 2;
            let v: u16 = [0, 2, 3, 0xffff, 0x8000][rng.below(5)];
            m[i..i + 2].copy_from_slice(&v.to_le_bytes());
        }
        // Small signed deltas on a word: indices one past the end, -1, ...
        _ => {
            let i = rng.below(m.len() / 4) * 4;
            let w = u32::from_le_bytes([m[i], m[i + 1], m[i + 2], m[i + 3]]);
            let d = [1u32, 2, 0xffff_ffff, 16, 100][rng.below(5)];
            m[i..i + 4].copy_from_slice(&w.wrapping_add(d).to_le_bytes());
        }
    }
    m
}

/// The interpreter on an accepted (possibly nonsensical) model: any result
/// but a panic; errors are one line.
fn allocate_and_invoke(model: &Model<'_>, arena: &mut [u128]) {
    let arena: &mut [u8] = bytemuck::cast_slice_mut(arena);
    let mut it = Interpreter::new(model, &AllOpsResolver, arena);
    match it.allocate_tensors() {
        Ok(()) => {
            for k in 0..it.inputs_len() {
                if let Ok(v) = it.input_mut(k) {
                    for (i, b) in v.data.iter_mut().enumerate() {
                        *b = (i * 37) as u8;
                    }
                }
            }
            // Invoking the big zoo models thousands of times would make
            // this test slow in a debug build; their allocation is checked.
            if model.bytes().len() < 40_000 {
                if let Err(e) = it.invoke() {
                    assert!(!e.to_string().contains('\n'));
                }
            }
        }
        Err(e) => assert!(!e.to_string().contains('\n'), "{e}"),
    }
}

#[test]
fn mutated_models_never_panic() {
    // Under Miri (some thousand times slower) a sample: a few mutants of
    // each of the project's own models, every access checked.
    let (per_model, zoo_models) = if cfg!(miri) { (3, 0) } else { (400, 12) };
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut accepted, mut rejected) = (0, 0);
    let mut arena = vec![0u128; 1 << 14];
    for path in common::fixture_models()
        .into_iter()
        .chain(common::shared_models().into_iter().take(zoo_models))
    {
        let original = std::fs::read(&path).unwrap();
        for _ in 0..per_model {
            let m = mutate(&mut rng, &original);
            match Model::from_bytes(&m) {
                Ok(model) => {
                    read_everything(&model).unwrap_or_else(|e| {
                        panic!(
                            "{}: accepted, then a field failed to read: {e}",
                            path.display()
                        )
                    });
                    allocate_and_invoke(&model, &mut arena);
                    accepted += 1;
                }
                Err(e) => {
                    // Every error must render to one line.
                    let text = e.to_string();
                    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
                    rejected += 1;
                }
            }
        }
    }
    eprintln!("{accepted} mutants accepted, {rejected} rejected");
    assert!(
        rejected > 0 && accepted > 0,
        "mutations should produce both outcomes"
    );
}

#[test]
fn every_prefix_of_a_model_is_handled() {
    let path = &common::fixture_models()[0];
    let original = std::fs::read(path).unwrap();
    for len in 0..original.len() {
        if let Ok(model) = Model::from_bytes(&original[..len]) {
            read_everything(&model).unwrap();
        }
    }
}

#[test]
fn valid_models_read_completely() {
    for path in common::all_models() {
        let bytes = std::fs::read(&path).unwrap();
        let model = Model::from_bytes(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(read_everything(&model).unwrap() > 0);
    }
}

/// Inputs the fuzzer once found to break a promise (see runtime/fuzz/README.md):
/// each is read, and if accepted, allocated and invoked as the fuzz targets do.
#[test]
fn fuzz_regressions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions");
    let mut arena = vec![0u128; 1 << 14];
    let mut n = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        if let Ok(model) = Model::from_bytes(&bytes) {
            read_everything(&model).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            allocate_and_invoke(&model, &mut arena);
        }
        n += 1;
    }
    assert!(n > 0);
}
