//! Running the runtime on the host: aligned arenas and error messages.

use std::path::Path;
use tflm_runtime::schema::TensorType;
use tflm_runtime::{AllOpsResolver, Error, Interpreter, Model};

/// Arena for host runs when the user gives no size: far more than any
/// microcontroller model needs (the pages are only touched as used).
pub const BIG_ARENA: usize = 64 << 20;

/// A 16-byte-aligned arena of exactly the requested length, as a
/// microcontroller build would declare it.
pub struct Arena {
    words: Vec<u128>,
    len: usize,
}

impl Arena {
    pub fn new(len: usize) -> Self {
        Arena {
            words: vec![0; len.div_ceil(16)],
            len,
        }
    }

    pub fn bytes(&mut self) -> &mut [u8] {
        let all: &mut [u8] = bytemuck::cast_slice_mut(&mut self.words);
        &mut all[..self.len]
    }
}

/// The exact arena `model` needs, found by allocating in a large one.
pub fn exact_arena(model: &Model<'_>) -> Option<usize> {
    let resolver = AllOpsResolver;
    let mut arena = Arena::new(BIG_ARENA);
    let mut interpreter = Interpreter::new(model, &resolver, arena.bytes());
    interpreter.allocate_tensors().ok()?;
    Some(interpreter.arena_used_bytes())
}

/// One line for a runtime error, with what to do about it.
pub fn runtime_error(path: &Path, model: &Model<'_>, e: Error) -> anyhow::Error {
    let hint = match e {
        Error::ArenaTooSmall { needed, exact, .. } => {
            let needed = if exact {
                Some(needed)
            } else {
                exact_arena(model)
            };
            match needed {
                Some(n) => {
                    format!(" (this model needs exactly {n} bytes: pass --arena-size {n} or more)")
                }
                None => String::new(),
            }
        }
        Error::UnsupportedOp { .. } => {
            " (`tflm inspect` lists the operators this runtime supports)".to_string()
        }
        Error::Model(_) => {
            " (the file is corrupt or truncated; re-export or re-download it)".to_string()
        }
        _ => String::new(),
    };
    anyhow::anyhow!("{}: {e}{hint}", path.display())
}

/// Seeded random data for a tensor: the whole range for integers, [-1, 1] for floats.
pub fn deterministic_input(ty: TensorType, bytes: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    match ty {
        TensorType::Float32 => (0..bytes / 4)
            .flat_map(|_| {
                (((next() >> 11) as f64 / (1u64 << 53) as f64) as f32 * 2.0 - 1.0).to_le_bytes()
            })
            .collect(),
        _ => (0..bytes).map(|_| next() as u8).collect(),
    }
}
