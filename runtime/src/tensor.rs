//! Views of tensor data for kernels and applications.
//!
//! A view is a byte slice (in the arena, or in the model for constants) plus
//! the shape read straight from the model. Typed access casts the bytes
//! without copying, after checking length and alignment.

use crate::kernel::KernelError;
use crate::schema::TensorType;
use bytemuck::Pod;

/// Shape of a tensor: its dimensions as stored in the model (little-endian
/// `int32`), checked non-negative when the interpreter was allocated.
#[derive(Clone, Copy, Debug)]
pub struct Shape<'a> {
    dims: &'a [u8],
}

impl<'a> Shape<'a> {
    pub(crate) fn new(dims: &'a [u8]) -> Self {
        Shape { dims }
    }

    /// The dimensions as stored (little-endian `int32`).
    pub(crate) fn bytes(&self) -> &'a [u8] {
        self.dims
    }

    /// The shape of a scalar.
    pub const SCALAR: Shape<'static> = Shape { dims: &[] };

    pub fn rank(&self) -> usize {
        self.dims.len() / 4
    }

    /// Dimension `i`; 0 past the rank.
    pub fn dim(&self, i: usize) -> usize {
        match self.dims.get(4 * i..4 * i + 4) {
            Some(b) => i32::from_le_bytes([b[0], b[1], b[2], b[3]]).max(0) as usize,
            None => 0,
        }
    }

    /// Dimension `i` counted from the end (`dim_from_end(0)` is the last).
    pub fn dim_from_end(&self, i: usize) -> usize {
        match self.rank().checked_sub(i + 1) {
            Some(k) => self.dim(k),
            None => 0,
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = usize> + 'a {
        self.dims
            .chunks_exact(4)
            .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]).max(0) as usize)
    }

    /// Number of elements (1 for a scalar). Saturates instead of overflowing;
    /// the interpreter rejects shapes whose byte size overflows.
    pub fn num_elements(&self) -> usize {
        self.iter().fold(1usize, |n, d| n.saturating_mul(d))
    }

    /// Product of the dimensions in `range`.
    pub fn product(&self, from: usize, to: usize) -> usize {
        (from..to.min(self.rank())).fold(1usize, |n, i| n.saturating_mul(self.dim(i)))
    }

    /// Whether both shapes have the same dimensions.
    pub fn same_as(&self, other: &Shape<'_>) -> bool {
        self.rank() == other.rank() && self.iter().zip(other.iter()).all(|(a, b)| a == b)
    }
}

fn cast<T: Pod>(bytes: &[u8]) -> Result<&[T], KernelError> {
    bytemuck::try_cast_slice(bytes).map_err(|_| KernelError::Misaligned)
}

fn cast_mut<T: Pod>(bytes: &mut [u8]) -> Result<&mut [T], KernelError> {
    bytemuck::try_cast_slice_mut(bytes).map_err(|_| KernelError::Misaligned)
}

/// A read-only tensor.
#[derive(Clone, Copy, Debug)]
pub struct TensorView<'a> {
    pub ty: TensorType,
    pub shape: Shape<'a>,
    pub data: &'a [u8],
}

macro_rules! typed {
    ($($name:ident, $name_mut:ident: $t:ty = $ty:ident;)*) => {
        impl<'a> TensorView<'a> {
            $(
                #[doc = concat!("The data as `", stringify!($t), "`; an error if the tensor is another type.")]
                pub fn $name(&self) -> Result<&'a [$t], KernelError> {
                    self.expect(TensorType::$ty)?;
                    cast(self.data)
                }
            )*
        }

        impl<'a> TensorViewMut<'a> {
            $(
                #[doc = concat!("The data as `", stringify!($t), "`; an error if the tensor is another type.")]
                pub fn $name_mut(&mut self) -> Result<&mut [$t], KernelError> {
                    self.expect(TensorType::$ty)?;
                    cast_mut(self.data)
                }
            )*
        }
    };
}

typed! {
    as_i8, as_i8_mut: i8 = Int8;
    as_u8, as_u8_mut: u8 = UInt8;
    as_i16, as_i16_mut: i16 = Int16;
    as_i32, as_i32_mut: i32 = Int32;
    as_i64, as_i64_mut: i64 = Int64;
    as_f32, as_f32_mut: f32 = Float32;
    as_bool, as_bool_mut: u8 = Bool;
}

impl<'a> TensorView<'a> {
    fn expect(&self, ty: TensorType) -> Result<(), KernelError> {
        if self.ty == ty {
            Ok(())
        } else {
            Err(KernelError::WrongType {
                found: self.ty,
                expected: ty,
            })
        }
    }

    pub fn num_elements(&self) -> usize {
        self.shape.num_elements()
    }
}

/// A tensor the kernel writes.
#[derive(Debug)]
pub struct TensorViewMut<'a> {
    pub ty: TensorType,
    pub shape: Shape<'a>,
    pub data: &'a mut [u8],
}

impl TensorViewMut<'_> {
    fn expect(&self, ty: TensorType) -> Result<(), KernelError> {
        if self.ty == ty {
            Ok(())
        } else {
            Err(KernelError::WrongType {
                found: self.ty,
                expected: ty,
            })
        }
    }

    pub fn num_elements(&self) -> usize {
        self.shape.num_elements()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shape_reads_dims() {
        let dims: [u8; 12] = [1, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0];
        let s = Shape::new(&dims);
        assert_eq!(s.rank(), 3);
        assert_eq!((s.dim(0), s.dim(1), s.dim(2), s.dim(3)), (1, 5, 3, 0));
        assert_eq!(s.dim_from_end(0), 3);
        assert_eq!(s.num_elements(), 15);
        assert_eq!(s.product(1, 3), 15);
        assert_eq!(Shape::SCALAR.num_elements(), 1);
    }

    #[test]
    fn typed_access_checks_type_and_alignment() {
        let bytes = [0u8; 8];
        let v = TensorView {
            ty: TensorType::Int8,
            shape: Shape::SCALAR,
            data: &bytes,
        };
        assert_eq!(v.as_i8().unwrap().len(), 8);
        assert!(matches!(v.as_f32(), Err(KernelError::WrongType { .. })));
        let words = [0u32; 3];
        let raw: &[u8] = bytemuck::cast_slice(&words);
        let v = TensorView {
            ty: TensorType::Float32,
            shape: Shape::SCALAR,
            data: &raw[1..9],
        };
        assert_eq!(v.as_f32(), Err(KernelError::Misaligned));
    }
}
