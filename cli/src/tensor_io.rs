//! Tensor data in and out of files: `.npy` (with dtype and shape) or raw
//! little-endian `.bin`, chosen by extension.

use anyhow::{bail, Context, Result};
use std::path::Path;
use tflm_runtime::schema::TensorType;

/// Tensor data read from a file, as little-endian bytes.
pub struct Loaded {
    pub bytes: Vec<u8>,
    /// Shape and type from an `.npy` header; `None` for raw `.bin`.
    pub shape: Option<Vec<usize>>,
    pub ty: Option<TensorType>,
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// The `.npy` type code of a tensor type.
pub fn npy_code(ty: TensorType) -> Option<&'static str> {
    Some(match ty {
        TensorType::Float32 => "f4",
        TensorType::Float64 => "f8",
        TensorType::Int8 => "i1",
        TensorType::UInt8 => "u1",
        TensorType::Int16 => "i2",
        TensorType::UInt16 => "u2",
        TensorType::Int32 => "i4",
        TensorType::UInt32 => "u4",
        TensorType::Int64 => "i8",
        TensorType::UInt64 => "u8",
        TensorType::Bool => "b1",
        _ => return None,
    })
}

fn type_of_code(code: &str) -> Option<TensorType> {
    [
        TensorType::Float32,
        TensorType::Float64,
        TensorType::Int8,
        TensorType::UInt8,
        TensorType::Int16,
        TensorType::UInt16,
        TensorType::Int32,
        TensorType::UInt32,
        TensorType::Int64,
        TensorType::UInt64,
        TensorType::Bool,
    ]
    .into_iter()
    .find(|t| npy_code(*t) == Some(code))
}

pub fn read(path: &Path) -> Result<Loaded> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !is_npy(path) {
        return Ok(Loaded {
            bytes,
            shape: None,
            ty: None,
        });
    }
    let npy = npyz::NpyFile::new(&bytes[..])
        .with_context(|| format!("{} is not a valid .npy file", path.display()))?;
    let descr = match npy.dtype() {
        npyz::DType::Plain(t) => t.to_string(),
        other => bail!(
            "{}: unsupported .npy dtype {:?} (expected a plain numeric array)",
            path.display(),
            other
        ),
    };
    if npy.order() != npyz::Order::C {
        bail!(
            "{}: Fortran-order arrays are not supported; save with np.ascontiguousarray",
            path.display()
        );
    }
    // descr is like "<f4", "|i1", ">i2".
    let (endian, code) = descr.split_at(1);
    if endian == ">" && !code.ends_with('1') {
        bail!(
            "{}: big-endian data ({descr}); save it little-endian",
            path.display()
        );
    }
    let ty = type_of_code(code)
        .with_context(|| format!("{}: unsupported .npy dtype {descr}", path.display()))?;
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    // npyz checked the magic; the header length follows the version bytes.
    let data_start = match bytes[6] {
        1 => 10 + u16::from_le_bytes([bytes[8], bytes[9]]) as usize,
        _ => 12 + u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
    };
    let expected = shape.iter().product::<usize>() * ty.size_bytes().unwrap_or(1);
    let data = bytes.get(data_start..).unwrap_or(&[]);
    if data.len() != expected {
        bail!(
            "{}: header says {} bytes of data, the file has {}",
            path.display(),
            expected,
            data.len()
        );
    }
    Ok(Loaded {
        bytes: data.to_vec(),
        shape: Some(shape),
        ty: Some(ty),
    })
}

/// Writes `bytes` (little-endian elements of `ty`) to `path`.
pub fn write(path: &Path, ty: TensorType, shape: &[usize], bytes: &[u8]) -> Result<()> {
    if !is_npy(path) {
        return std::fs::write(path, bytes)
            .with_context(|| format!("cannot write {}", path.display()));
    }
    let code = npy_code(ty).with_context(|| format!("cannot write {ty} tensors as .npy"))?;
    let endian = if code.ends_with('1') { "|" } else { "<" };
    let shape_text = match shape.len() {
        1 => format!("({},)", shape[0]),
        _ => format!(
            "({})",
            shape
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let mut header =
        format!("{{'descr': '{endian}{code}', 'fortran_order': False, 'shape': {shape_text}, }}");
    // Magic (6) + version (2) + length (2) + header + newline, padded to 64.
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = Vec::with_capacity(10 + header.len() + bytes.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header.len() as u16).to_le_bytes());
    out.extend_from_slice(header.as_bytes());
    out.extend_from_slice(bytes);
    std::fs::write(path, out).with_context(|| format!("cannot write {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn npy_round_trips_through_our_writer_and_npyz() {
        let dir = std::env::temp_dir().join(format!("tflm-npy-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("x.npy");
        let values: Vec<f32> = vec![1.5, -2.0, 3.25, 0.0, 7.0, 8.0];
        write(&path, TensorType::Float32, &[2, 3], bytemuck_bytes(&values)).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back.shape, Some(vec![2, 3]));
        assert_eq!(back.ty, Some(TensorType::Float32));
        assert_eq!(back.bytes, bytemuck_bytes(&values));
        let direct: Vec<f32> = npyz::NpyFile::new(&std::fs::read(&path).unwrap()[..])
            .unwrap()
            .into_vec()
            .unwrap();
        assert_eq!(direct, values);
        let int8 = dir.join("y.npy");
        write(&int8, TensorType::Int8, &[4], &[1, 255, 3, 128]).unwrap();
        let back = read(&int8).unwrap();
        assert_eq!(
            (back.ty, back.shape, back.bytes),
            (Some(TensorType::Int8), Some(vec![4]), vec![1, 255, 3, 128])
        );
        std::fs::remove_dir_all(dir).unwrap();
    }

    fn bytemuck_bytes(v: &[f32]) -> &[u8] {
        // f32 slices are plain bytes; std has no safe cast, so go through to_le_bytes.
        let bytes: Vec<u8> = v.iter().flat_map(|f| f.to_le_bytes()).collect();
        Box::leak(bytes.into_boxed_slice())
    }
}
