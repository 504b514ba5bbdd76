//! Test support (host only): builds a one-operator model with the official
//! FlatBuffers builder and runs it through the real interpreter, so kernel
//! tests exercise the same path as a deployed model.
//!
//! ```ignore
//! let out = OpTest::new(op::ADD)
//!     .input(T::f32(&[1, 2], &[1.0, 2.0]))
//!     .input(T::f32(&[1, 2], &[3.0, 4.0]))
//!     .output(T::f32_out(&[1, 2]))
//!     .options(|b| add_options(b, Activation::None))
//!     .run()
//!     .unwrap();
//! assert_eq!(out.f32(0), [4.0, 6.0]);
//! ```

use crate::interpreter::{Error, Interpreter};
use crate::resolver::AllOpsResolver;
use crate::schema::{BuiltinOperator, Model, TensorType};
use flatbuffers::{FlatBufferBuilder, UnionWIPOffset, WIPOffset};
use std::vec::Vec;

#[allow(unsafe_code, clippy::all, unused_imports, dead_code, deprecated, non_camel_case_types, unsafe_op_in_unsafe_fn)]
#[rustfmt::skip]
#[path = "../tests/oracle/schema_generated.rs"]
pub mod generated;

pub use generated::tflite as fb;

/// A tensor of the test model: type, shape, quantization, and data for
/// constants (weights) or for inputs (filled before `invoke`).
#[derive(Clone, Debug)]
pub struct T {
    pub ty: TensorType,
    pub shape: Vec<i32>,
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
    /// Bytes of the tensor: constant if `constant`, else input data.
    pub data: Vec<u8>,
    pub constant: bool,
    pub variable: bool,
}

impl T {
    fn new(ty: TensorType, shape: &[i32], data: Vec<u8>) -> Self {
        T {
            ty,
            shape: shape.to_vec(),
            scale: Vec::new(),
            zero_point: Vec::new(),
            quantized_dimension: 0,
            data,
            constant: false,
            variable: false,
        }
    }

    pub fn f32(shape: &[i32], values: &[f32]) -> Self {
        Self::new(
            TensorType::Float32,
            shape,
            bytemuck::cast_slice(values).to_vec(),
        )
    }

    pub fn i8(shape: &[i32], values: &[i8]) -> Self {
        Self::new(
            TensorType::Int8,
            shape,
            bytemuck::cast_slice(values).to_vec(),
        )
    }

    pub fn i16(shape: &[i32], values: &[i16]) -> Self {
        Self::new(
            TensorType::Int16,
            shape,
            bytemuck::cast_slice(values).to_vec(),
        )
    }

    pub fn i32(shape: &[i32], values: &[i32]) -> Self {
        Self::new(
            TensorType::Int32,
            shape,
            bytemuck::cast_slice(values).to_vec(),
        )
    }

    /// An output (or any tensor without data) of type `ty`.
    pub fn out(ty: TensorType, shape: &[i32]) -> Self {
        Self::new(ty, shape, Vec::new())
    }

    /// Per-tensor quantization.
    pub fn q(mut self, scale: f32, zero_point: i64) -> Self {
        self.scale = std::vec![scale];
        self.zero_point = std::vec![zero_point];
        self
    }

    /// Per-channel quantization along `dim`.
    pub fn per_channel(mut self, scales: &[f32], zero_points: &[i64], dim: i32) -> Self {
        self.scale = scales.to_vec();
        self.zero_point = zero_points.to_vec();
        self.quantized_dimension = dim;
        self
    }

    /// Makes the tensor a constant in the model (weights, biases, shapes).
    pub fn constant(mut self) -> Self {
        self.constant = true;
        self
    }

    /// Makes the tensor a variable (state kept across invokes).
    pub fn variable(mut self) -> Self {
        self.variable = true;
        self
    }
}

type OptionsFn = std::boxed::Box<
    dyn FnOnce(&mut FlatBufferBuilder<'static>) -> (fb::BuiltinOptions, WIPOffset<UnionWIPOffset>),
>;

/// One operator, its tensors and options.
pub struct OpTest {
    op: BuiltinOperator,
    version: i32,
    inputs: Vec<Option<T>>,
    outputs: Vec<T>,
    options: Option<OptionsFn>,
    offline_plan: Option<Vec<i32>>,
}

/// What a run produced: every output's bytes, and the arena use.
#[derive(Debug)]
pub struct Outputs {
    pub data: Vec<Vec<u8>>,
    pub arena_bytes: usize,
    /// Where the plan put each tensor (inputs, then outputs).
    pub offsets: Vec<usize>,
}

impl Outputs {
    pub fn f32(&self, k: usize) -> Vec<f32> {
        bytemuck::pod_collect_to_vec(&self.data[k])
    }

    pub fn i8(&self, k: usize) -> Vec<i8> {
        bytemuck::pod_collect_to_vec(&self.data[k])
    }

    pub fn i16(&self, k: usize) -> Vec<i16> {
        bytemuck::pod_collect_to_vec(&self.data[k])
    }

    pub fn i32(&self, k: usize) -> Vec<i32> {
        bytemuck::pod_collect_to_vec(&self.data[k])
    }
}

impl OpTest {
    pub fn new(op: BuiltinOperator) -> Self {
        OpTest {
            op,
            version: 1,
            inputs: Vec::new(),
            outputs: Vec::new(),
            options: None,
            offline_plan: None,
        }
    }

    pub fn input(mut self, t: T) -> Self {
        self.inputs.push(Some(t));
        self
    }

    /// An optional input left out (index -1 in the model).
    pub fn no_input(mut self) -> Self {
        self.inputs.push(None);
        self
    }

    pub fn output(mut self, t: T) -> Self {
        self.outputs.push(t);
        self
    }

    pub fn options(
        mut self,
        f: impl FnOnce(
                &mut FlatBufferBuilder<'static>,
            ) -> (fb::BuiltinOptions, WIPOffset<UnionWIPOffset>)
            + 'static,
    ) -> Self {
        self.options = Some(std::boxed::Box::new(f));
        self
    }

    /// Adds `OfflineMemoryAllocation` metadata: one arena offset per tensor
    /// (inputs then outputs), -1 to leave a tensor to the online planner.
    pub fn offline_plan(mut self, offsets: &[i32]) -> Self {
        self.offline_plan = Some(offsets.to_vec());
        self
    }

    /// The model bytes.
    pub fn build(&mut self) -> Vec<u8> {
        let mut b = FlatBufferBuilder::new();
        // Buffer 0 is the empty buffer every model has.
        let empty = fb::Buffer::create(&mut b, &fb::BufferArgs::default());
        let mut buffers = std::vec![empty];
        let mut tensors = Vec::new();
        let mut op_inputs = Vec::new();
        let mut sg_inputs = Vec::new();
        let all: Vec<(bool, &T)> = self
            .inputs
            .iter()
            .flatten()
            .map(|t| (true, t))
            .chain(self.outputs.iter().map(|t| (false, t)))
            .collect();
        for (i, (is_input, t)) in all.iter().enumerate() {
            let buffer = if t.constant || (t.variable && !t.data.is_empty()) {
                let data = b.create_vector(&t.data);
                let buf = fb::Buffer::create(
                    &mut b,
                    &fb::BufferArgs {
                        data: Some(data),
                        ..Default::default()
                    },
                );
                buffers.push(buf);
                (buffers.len() - 1) as u32
            } else {
                0
            };
            let quantization = (!t.scale.is_empty()).then(|| {
                let scale = b.create_vector(&t.scale);
                let zero_point = b.create_vector(&t.zero_point);
                fb::QuantizationParameters::create(
                    &mut b,
                    &fb::QuantizationParametersArgs {
                        scale: Some(scale),
                        zero_point: Some(zero_point),
                        quantized_dimension: t.quantized_dimension,
                        ..Default::default()
                    },
                )
            });
            let shape = b.create_vector(&t.shape);
            let name = b.create_string(&std::format!("t{i}"));
            tensors.push(fb::Tensor::create(
                &mut b,
                &fb::TensorArgs {
                    shape: Some(shape),
                    type_: fb::TensorType(t.ty as i8),
                    buffer,
                    name: Some(name),
                    quantization,
                    is_variable: t.variable,
                    ..Default::default()
                },
            ));
            if *is_input && !t.constant && !t.variable {
                sg_inputs.push(i as i32);
            }
        }
        let mut next = 0;
        for t in &self.inputs {
            match t {
                Some(_) => {
                    op_inputs.push(next);
                    next += 1;
                }
                None => op_inputs.push(-1),
            }
        }
        let n_inputs = next;
        let op_outputs: Vec<i32> = (0..self.outputs.len() as i32)
            .map(|k| n_inputs + k)
            .collect();
        let (options_type, options) = match self.options.take() {
            Some(f) => {
                let (t, o) = f(&mut b);
                (t, Some(o))
            }
            None => (fb::BuiltinOptions::NONE, None),
        };
        let inputs_v = b.create_vector(&op_inputs);
        let outputs_v = b.create_vector(&op_outputs);
        let operator = fb::Operator::create(
            &mut b,
            &fb::OperatorArgs {
                opcode_index: 0,
                inputs: Some(inputs_v),
                outputs: Some(outputs_v),
                builtin_options_type: options_type,
                builtin_options: options,
                ..Default::default()
            },
        );
        let tensors_v = b.create_vector(&tensors);
        let sg_inputs_v = b.create_vector(&sg_inputs);
        let sg_outputs_v = b.create_vector(&op_outputs);
        let operators_v = b.create_vector(&[operator]);
        let subgraph = fb::SubGraph::create(
            &mut b,
            &fb::SubGraphArgs {
                tensors: Some(tensors_v),
                inputs: Some(sg_inputs_v),
                outputs: Some(sg_outputs_v),
                operators: Some(operators_v),
                ..Default::default()
            },
        );
        let code = fb::OperatorCode::create(
            &mut b,
            &fb::OperatorCodeArgs {
                deprecated_builtin_code: self.op.0.min(127) as i8,
                builtin_code: fb::BuiltinOperator(self.op.0),
                version: self.version,
                ..Default::default()
            },
        );
        let codes_v = b.create_vector(&[code]);
        let mut metadata = Vec::new();
        if let Some(offsets) = &self.offline_plan {
            let mut words = std::vec![1i32, 0, offsets.len() as i32];
            words.extend_from_slice(offsets);
            let data = b.create_vector(bytemuck::cast_slice::<i32, u8>(&words));
            let buf = fb::Buffer::create(
                &mut b,
                &fb::BufferArgs {
                    data: Some(data),
                    ..Default::default()
                },
            );
            buffers.push(buf);
            let name = b.create_string("OfflineMemoryAllocation");
            metadata.push(fb::Metadata::create(
                &mut b,
                &fb::MetadataArgs {
                    name: Some(name),
                    buffer: (buffers.len() - 1) as u32,
                },
            ));
        }
        let metadata_v = b.create_vector(&metadata);
        let subgraphs_v = b.create_vector(&[subgraph]);
        let buffers_v = b.create_vector(&buffers);
        let model = fb::Model::create(
            &mut b,
            &fb::ModelArgs {
                version: 3,
                operator_codes: Some(codes_v),
                subgraphs: Some(subgraphs_v),
                buffers: Some(buffers_v),
                metadata: Some(metadata_v),
                ..Default::default()
            },
        );
        fb::finish_model_buffer(&mut b, model);
        b.finished_data().to_vec()
    }

    /// Builds the model, runs it with the reference kernels, returns the outputs.
    pub fn run(self) -> Result<Outputs, Error> {
        self.run_with(&AllOpsResolver, 1 << 20)
    }

    /// Builds the model, runs it with `kernel` for its operator (in place of
    /// the reference kernel), as [`OpTest::run`] does.
    pub fn run_kernel(self, kernel: crate::kernel::Kernel) -> Result<Outputs, Error> {
        let mut resolver = crate::resolver::MutableOpResolver::<1>::new();
        // A resolver with room for one kernel cannot be full.
        let _ = resolver.register(self.op, kernel);
        self.run_with(&resolver, 1 << 22)
    }

    /// Builds the model, runs it with `resolver` in an arena of `arena_len` bytes.
    pub fn run_with<R: crate::resolver::OpResolver>(
        mut self,
        resolver: &R,
        arena_len: usize,
    ) -> Result<Outputs, Error> {
        let bytes = self.build();
        // Copy into 16-aligned storage, as a model in flash would be.
        let mut words = std::vec![0u128; bytes.len().div_ceil(16)];
        let aligned: &mut [u8] = bytemuck::cast_slice_mut(&mut words);
        aligned[..bytes.len()].copy_from_slice(&bytes);
        let model = Model::from_bytes(&aligned[..bytes.len()])?;
        let mut arena = std::vec![0u128; arena_len.div_ceil(16)];
        let arena: &mut [u8] = &mut bytemuck::cast_slice_mut(&mut arena)[..arena_len];
        let mut interpreter = Interpreter::new(&model, resolver, arena);
        interpreter.allocate_tensors()?;
        let mut k = 0;
        for t in self.inputs.iter().flatten() {
            if t.constant || t.variable {
                continue;
            }
            interpreter.input_mut(k)?.data.copy_from_slice(&t.data);
            k += 1;
        }
        interpreter.invoke()?;
        let data = (0..self.outputs.len())
            .map(|i| interpreter.output(i).map(|v| v.data.to_vec()))
            .collect::<Result<Vec<_>, _>>()?;
        let offsets = (0..self.inputs.iter().flatten().count() + self.outputs.len())
            .map(|k| interpreter.planned_tensor(k).map(|p| p.offset))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Outputs {
            data,
            arena_bytes: interpreter.arena_used_bytes(),
            offsets,
        })
    }
}

/// Values `f32` in tolerance `tol` (relative to max(1, |expected|)).
pub fn assert_close(actual: &[f32], expected: &[f32], tol: f32) {
    assert_eq!(actual.len(), expected.len(), "lengths differ");
    for (i, (a, e)) in actual.iter().zip(expected).enumerate() {
        assert!(
            (a - e).abs() <= tol * e.abs().max(1.0),
            "element {i}: {a} != {e} (tolerance {tol})"
        );
    }
}
