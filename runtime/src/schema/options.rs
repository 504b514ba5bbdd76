//! Builtin options of the operators the runtime runs, decoded into plain structs.
//!
//! Each struct lists its fields with their slot in the schema table and the
//! schema's default, so an absent table or field reads exactly as TFLite
//! reads it. The union tag of each struct is looked up by name in the
//! schema's union list at compile time, so it cannot drift from the schema.

use super::enums::{Activation, FullyConnectedWeightsFormat, MirrorPadMode, Padding, TensorType};
use super::error::{Fault, FaultKind};
use super::flatbuffer::{Scalars, Table};
use super::tables::BUILTIN_OPTIONS_NAMES;

/// The raw `builtin_options` union of an operator: its tag and table.
#[derive(Clone, Copy, Debug)]
pub struct BuiltinOptions<'a> {
    pub tag: u8,
    pub table: Table<'a>,
}

impl BuiltinOptions<'_> {
    /// The schema name of the options table (`Conv2DOptions`, ...).
    pub fn name(&self) -> Option<&'static str> {
        options_name(self.tag)
    }
}

/// The schema name of `BuiltinOptions` union member `tag`.
pub fn options_name(tag: u8) -> Option<&'static str> {
    (tag as usize)
        .checked_sub(1)
        .and_then(|i| BUILTIN_OPTIONS_NAMES.get(i).copied())
}

/// The union tag of the options table called `name`; fails the build if the
/// schema has no such member.
const fn tag_of(name: &str) -> u8 {
    let mut i = 0;
    while i < BUILTIN_OPTIONS_NAMES.len() {
        if str_eq(BUILTIN_OPTIONS_NAMES[i], name) {
            return (i + 1) as u8;
        }
        i += 1;
    }
    panic!("no such BuiltinOptions member")
}

const fn str_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// How an option field is stored: its size in bytes and its bits, widened
/// to `u32`, so that every field is read by one non-generic function.
trait Bits: Copy {
    const SIZE: usize;
    fn to_bits(self) -> u32;
    /// `None` for a value the schema does not define.
    fn from_bits(bits: u32) -> Option<Self>;
}

impl Bits for i32 {
    const SIZE: usize = 4;
    fn to_bits(self) -> u32 {
        self as u32
    }
    fn from_bits(bits: u32) -> Option<Self> {
        Some(bits as i32)
    }
}

impl Bits for f32 {
    const SIZE: usize = 4;
    fn to_bits(self) -> u32 {
        f32::to_bits(self)
    }
    fn from_bits(bits: u32) -> Option<Self> {
        Some(f32::from_bits(bits))
    }
}

impl Bits for bool {
    const SIZE: usize = 1;
    fn to_bits(self) -> u32 {
        self.into()
    }
    fn from_bits(bits: u32) -> Option<Self> {
        Some(bits != 0)
    }
}

macro_rules! enum_bits {
    ($($t:ty),*) => {$(
        impl Bits for $t {
            const SIZE: usize = 1;
            fn to_bits(self) -> u32 {
                self as i8 as u8 as u32
            }
            fn from_bits(bits: u32) -> Option<Self> {
                <$t>::from_i8(bits as u8 as i8)
            }
        }
    )*};
}
enum_bits!(
    Padding,
    Activation,
    FullyConnectedWeightsFormat,
    MirrorPadMode,
    TensorType
);

/// Field `slot` of an options table, or `default` with the
/// fault kept in `first` (if it is the first): an options struct is then
/// read without a `Result` per field, which would copy the fault at each.
#[inline(always)]
fn field<T: Bits>(
    t: &Table<'_>,
    slot: usize,
    default: T,
    name: &'static str,
    first: &mut Option<Fault>,
) -> T {
    let bits = t.scalar_or(slot, T::SIZE, default.to_bits(), name, first);
    match T::from_bits(bits) {
        Some(v) => v,
        None => {
            unknown(name, bits, first);
            default
        }
    }
}

/// An enum field's byte the schema does not define.
#[cold]
#[inline(never)]
fn unknown(name: &'static str, bits: u32, first: &mut Option<Fault>) {
    let value = (bits as u8 as i8).into();
    first.get_or_insert(Fault::new(name, FaultKind::UnknownEnum { value }));
}

/// Options structs made only of scalar fields.
pub trait ScalarOptions: Sized + Default {
    /// The union tag of this options table.
    const TAG: u8;
    fn read(t: &Table<'_>) -> Result<Self, Fault>;
}

macro_rules! options {
    ($(
        $(#[$m:meta])*
        $name:ident { $($slot:literal $field:ident : $ty:ty = $default:expr),* $(,)? }
    )*) => {$(
        $(#[$m])*
        #[derive(Clone, Copy, Debug, PartialEq)]
        pub struct $name { $(pub $field: $ty),* }

        impl Default for $name {
            fn default() -> Self {
                $name { $($field: $default),* }
            }
        }

        impl ScalarOptions for $name {
            const TAG: u8 = tag_of(stringify!($name));
            #[allow(unused_variables)]
            fn read(t: &Table<'_>) -> Result<Self, Fault> {
                let mut first = None;
                let options = $name {
                    $($field: field(
                        t, $slot, $default, text!(concat!(stringify!($name), ".", stringify!($field))), &mut first)),*
                };
                match first {
                    Some(fault) => Err(fault),
                    None => Ok(options),
                }
            }
        }
    )*

        /// Decodes options of any type listed here (for tests and tools).
        pub fn check_known(o: BuiltinOptions<'_>) -> Result<(), Fault> {
            $(if o.tag == $name::TAG {
                $name::read(&o.table)?;
            })*
            if o.tag == RESHAPE_TAG {
                ReshapeOptions::read(&o.table)?;
            }
            if o.tag == SQUEEZE_TAG {
                SqueezeOptions::read(&o.table)?;
            }
            Ok(())
        }
    };
}

options! {
    Conv2DOptions {
        0 padding: Padding = Padding::Same,
        1 stride_w: i32 = 0,
        2 stride_h: i32 = 0,
        3 activation: Activation = Activation::None,
        4 dilation_w_factor: i32 = 1,
        5 dilation_h_factor: i32 = 1,
        6 quantized_bias_type: TensorType = TensorType::Float32,
    }
    DepthwiseConv2DOptions {
        0 padding: Padding = Padding::Same,
        1 stride_w: i32 = 0,
        2 stride_h: i32 = 0,
        3 depth_multiplier: i32 = 0,
        4 activation: Activation = Activation::None,
        5 dilation_w_factor: i32 = 1,
        6 dilation_h_factor: i32 = 1,
    }
    Pool2DOptions {
        0 padding: Padding = Padding::Same,
        1 stride_w: i32 = 0,
        2 stride_h: i32 = 0,
        3 filter_width: i32 = 0,
        4 filter_height: i32 = 0,
        5 activation: Activation = Activation::None,
    }
    SVDFOptions {
        0 rank: i32 = 0,
        1 activation: Activation = Activation::None,
        2 asymmetric_quantize_inputs: bool = false,
    }
    FullyConnectedOptions {
        0 activation: Activation = Activation::None,
        1 weights_format: FullyConnectedWeightsFormat = FullyConnectedWeightsFormat::Default,
        2 keep_num_dims: bool = false,
        3 asymmetric_quantize_inputs: bool = false,
        4 quantized_bias_type: TensorType = TensorType::Float32,
    }
    SoftmaxOptions { 0 beta: f32 = 0.0 }
    ConcatenationOptions {
        0 axis: i32 = 0,
        1 activation: Activation = Activation::None,
    }
    AddOptions {
        0 activation: Activation = Activation::None,
        1 pot_scale_int16: bool = true,
    }
    SubOptions {
        0 activation: Activation = Activation::None,
        1 pot_scale_int16: bool = true,
    }
    MulOptions { 0 activation: Activation = Activation::None }
    DivOptions { 0 activation: Activation = Activation::None }
    L2NormOptions { 0 activation: Activation = Activation::None }
    LeakyReluOptions { 0 alpha: f32 = 0.0 }
    StridedSliceOptions {
        0 begin_mask: i32 = 0,
        1 end_mask: i32 = 0,
        2 ellipsis_mask: i32 = 0,
        3 new_axis_mask: i32 = 0,
        4 shrink_axis_mask: i32 = 0,
        5 offset: bool = false,
    }
    PackOptions { 0 values_count: i32 = 0, 1 axis: i32 = 0 }
    UnpackOptions { 0 num: i32 = 0, 1 axis: i32 = 0 }
    SplitOptions { 0 num_splits: i32 = 0 }
    SplitVOptions { 0 num_splits: i32 = 0 }
    GatherOptions { 0 axis: i32 = 0, 1 batch_dims: i32 = 0 }
    ReducerOptions { 0 keep_dims: bool = false }
    ResizeBilinearOptions {
        2 align_corners: bool = false,
        3 half_pixel_centers: bool = false,
    }
    ResizeNearestNeighborOptions {
        0 align_corners: bool = false,
        1 half_pixel_centers: bool = false,
    }
    SpaceToDepthOptions { 0 block_size: i32 = 0 }
    DepthToSpaceOptions { 0 block_size: i32 = 0 }
    TransposeConvOptions {
        0 padding: Padding = Padding::Same,
        1 stride_w: i32 = 0,
        2 stride_h: i32 = 0,
        3 activation: Activation = Activation::None,
        4 quantized_bias_type: TensorType = TensorType::Float32,
    }
    BatchMatMulOptions {
        0 adj_x: bool = false,
        1 adj_y: bool = false,
        2 asymmetric_quantize_inputs: bool = false,
    }
    UnidirectionalSequenceLSTMOptions {
        0 activation: Activation = Activation::None,
        1 cell_clip: f32 = 0.0,
        2 proj_clip: f32 = 0.0,
        3 time_major: bool = false,
        4 asymmetric_quantize_inputs: bool = false,
        5 diagonal_recurrent_tensors: bool = false,
    }
    CumsumOptions { 0 exclusive: bool = false, 1 reverse: bool = false }
    ArgMaxOptions { 0 output_type: TensorType = TensorType::Float32 }
    ArgMinOptions { 0 output_type: TensorType = TensorType::Float32 }
    CastOptions {
        0 in_data_type: TensorType = TensorType::Float32,
        1 out_data_type: TensorType = TensorType::Float32,
    }
    MirrorPadOptions { 0 mode: MirrorPadMode = MirrorPadMode::Reflect }
    ShapeOptions { 0 out_type: TensorType = TensorType::Float32 }
}

/// RESHAPE's options: the target shape, when the model gives it here rather
/// than as a second input.
#[derive(Clone, Copy, Debug)]
pub struct ReshapeOptions<'a> {
    pub new_shape: Scalars<'a, i32>,
}

/// SQUEEZE's options: the axes to drop (all size-1 axes when empty).
#[derive(Clone, Copy, Debug)]
pub struct SqueezeOptions<'a> {
    pub squeeze_dims: Scalars<'a, i32>,
}

pub(crate) const RESHAPE_TAG: u8 = tag_of("ReshapeOptions");
pub(crate) const SQUEEZE_TAG: u8 = tag_of("SqueezeOptions");

impl<'a> ReshapeOptions<'a> {
    pub(crate) fn read(t: &Table<'a>) -> Result<Self, Fault> {
        Ok(ReshapeOptions {
            new_shape: t.scalars(0, text!("ReshapeOptions.new_shape"))?,
        })
    }
}

impl<'a> SqueezeOptions<'a> {
    pub(crate) fn read(t: &Table<'a>) -> Result<Self, Fault> {
        Ok(SqueezeOptions {
            squeeze_dims: t.scalars(0, text!("SqueezeOptions.squeeze_dims"))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_the_schema_union_order() {
        assert_eq!(Conv2DOptions::TAG, 1);
        assert_eq!(DepthwiseConv2DOptions::TAG, 2);
        assert_eq!(FullyConnectedOptions::TAG, 8);
        assert_eq!(options_name(Pool2DOptions::TAG), Some("Pool2DOptions"));
        assert_eq!(options_name(0), None);
        assert_eq!(options_name(255), None);
    }

    #[test]
    fn defaults_are_the_schema_defaults() {
        let c = Conv2DOptions::default();
        assert_eq!((c.dilation_w_factor, c.dilation_h_factor), (1, 1));
        assert!(AddOptions::default().pot_scale_int16);
    }
}
