//! `tflm inspect`: what a model holds, before it goes on a device.
//!
//! The report is built once as plain data ([`Report`]) and then printed
//! either as tables for a person or as JSON for a script.

use anyhow::Result;
use comfy_table::{presets, CellAlignment, Table};
use serde::Serialize;
use serde_json::{json, Map, Value};
use tflm_runtime::ops::is_supported;
use tflm_runtime::schema::{
    op, Activation, BuiltinOperator, Conv2DOptions, DepthwiseConv2DOptions, FullyConnectedOptions,
    Model, OpKind, Operator, Pool2DOptions, ReadError, ScalarOptions, Subgraph, TensorType,
};

#[derive(Serialize)]
pub struct Report {
    pub file: String,
    pub size_bytes: usize,
    pub version: u32,
    pub description: Option<String>,
    /// Bytes of constant tensor data (weights, biases, other constants).
    pub parameter_bytes: u64,
    /// Multiply-accumulates of one inference, summed over all operators.
    pub macs: u64,
    pub operator_codes: Vec<OpCodeReport>,
    pub subgraphs: Vec<SubgraphReport>,
    pub metadata: Vec<MetadataReport>,
    pub signature_defs: Vec<SignatureReport>,
}

#[derive(Serialize)]
pub struct OpCodeReport {
    pub op: String,
    pub version: i32,
    pub custom: bool,
    pub supported: bool,
}

#[derive(Serialize)]
pub struct SubgraphReport {
    pub name: Option<String>,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub tensors: Vec<TensorReport>,
    pub operators: Vec<OperatorReport>,
}

#[derive(Serialize, Clone)]
pub struct TensorReport {
    pub index: usize,
    pub name: String,
    #[serde(rename = "type")]
    pub ty: String,
    pub shape: Vec<i32>,
    pub shape_signature: Option<Vec<i32>>,
    pub buffer: u32,
    /// Bytes of the tensor's data (from its shape and type).
    pub bytes: Option<u64>,
    /// `constant`, `activation` or `variable`.
    pub kind: &'static str,
    pub quantization: Option<QuantReport>,
}

#[derive(Serialize, Clone)]
pub struct QuantReport {
    pub scale: Vec<f32>,
    pub zero_point: Vec<i64>,
    pub quantized_dimension: i32,
}

#[derive(Serialize)]
pub struct OperatorReport {
    pub index: usize,
    pub op: String,
    pub version: i32,
    pub inputs: Vec<i32>,
    pub outputs: Vec<i32>,
    pub options: Map<String, Value>,
    pub macs: u64,
    pub supported: bool,
}

#[derive(Serialize)]
pub struct MetadataReport {
    pub name: Option<String>,
    pub buffer: u32,
    pub bytes: usize,
}

#[derive(Serialize)]
pub struct SignatureReport {
    pub key: Option<String>,
    pub subgraph: u32,
    pub inputs: Vec<(Option<String>, u32)>,
    pub outputs: Vec<(Option<String>, u32)>,
}

/// The name the schema gives an operator code; custom ops go by their custom code.
pub fn op_name(kind: OpKind<'_>) -> String {
    match kind {
        OpKind::Builtin(code) => code.to_string(),
        OpKind::Custom(name) => String::from_utf8_lossy(name).into_owned(),
    }
}

pub fn report(file: &str, model: &Model<'_>) -> Result<Report, ReadError> {
    let mut operator_codes = Vec::new();
    for i in 0..model.operator_codes_len()? {
        let code = model.operator_code(i)?;
        let kind = code.kind()?;
        operator_codes.push(OpCodeReport {
            op: op_name(kind),
            version: code.version()?,
            custom: matches!(kind, OpKind::Custom(_)),
            supported: is_supported(kind),
        });
    }
    let mut subgraphs = Vec::new();
    let mut parameter_bytes = 0;
    for s in 0..model.subgraphs_len()? {
        let sg = model.subgraph(s)?;
        let tensors = tensors(model, &sg)?;
        parameter_bytes += tensors
            .iter()
            .filter(|t| t.kind == "constant")
            .map(|t| {
                model
                    .buffer(t.buffer as usize)
                    .map(|b| b.data().map(|d| d.len() as u64))
            })
            .sum::<Result<Result<u64, _>, _>>()??;
        let mut operators = Vec::new();
        for o in 0..sg.operators_len()? {
            let op = sg.operator(o)?;
            let code = model.opcode_of(&op)?;
            let kind = code.kind()?;
            let inputs: Vec<i32> = op.inputs()?.iter().collect();
            let outputs: Vec<i32> = op.outputs()?.iter().collect();
            let macs = match kind {
                OpKind::Builtin(b) => estimate_macs(b, &inputs, &outputs, &tensors),
                OpKind::Custom(_) => 0,
            };
            operators.push(OperatorReport {
                index: o,
                op: op_name(kind),
                version: code.version()?,
                options: match kind {
                    OpKind::Builtin(b) => options(b, &op)?,
                    OpKind::Custom(_) => Map::new(),
                },
                inputs,
                outputs,
                macs,
                supported: is_supported(kind),
            });
        }
        subgraphs.push(SubgraphReport {
            name: sg.name()?.map(str::to_string),
            inputs: sg.inputs()?.iter().collect(),
            outputs: sg.outputs()?.iter().collect(),
            tensors,
            operators,
        });
    }
    let mut metadata = Vec::new();
    for i in 0..model.metadata_len()? {
        let m = model.metadata(i)?;
        let buffer = m.buffer()?;
        metadata.push(MetadataReport {
            name: m.name()?.map(str::to_string),
            buffer,
            bytes: model.buffer(buffer as usize)?.data()?.len(),
        });
    }
    let mut signature_defs = Vec::new();
    for i in 0..model.signature_defs_len()? {
        let sig = model.signature_def(i)?;
        let maps = |outputs| -> Result<Vec<(Option<String>, u32)>, ReadError> {
            (0..sig.tensor_maps_len(outputs)?)
                .map(|k| {
                    let m = sig.tensor_map(outputs, k)?;
                    Ok((m.name()?.map(str::to_string), m.tensor_index()?))
                })
                .collect()
        };
        signature_defs.push(SignatureReport {
            key: sig.signature_key()?.map(str::to_string),
            subgraph: sig.subgraph_index()?,
            inputs: maps(false)?,
            outputs: maps(true)?,
        });
    }
    Ok(Report {
        file: file.to_string(),
        size_bytes: model.bytes().len(),
        version: model.version()?,
        description: model.description()?.map(str::to_string),
        parameter_bytes,
        macs: subgraphs
            .iter()
            .flat_map(|s| &s.operators)
            .map(|o| o.macs)
            .sum(),
        operator_codes,
        subgraphs,
        metadata,
        signature_defs,
    })
}

fn tensors(model: &Model<'_>, sg: &Subgraph<'_>) -> Result<Vec<TensorReport>, ReadError> {
    let mut out = Vec::new();
    for k in 0..sg.tensors_len()? {
        let t = sg.tensor(k)?;
        let ty = t.tensor_type()?;
        let shape: Vec<i32> = t.shape()?.iter().collect();
        let signature = t.shape_signature()?;
        let buffer = t.buffer()?;
        let has_data = !model.buffer(buffer as usize)?.data()?.is_empty();
        let kind = if t.is_variable()? {
            "variable"
        } else if has_data {
            "constant"
        } else {
            "activation"
        };
        let quantization = t
            .quantization()?
            .filter(|q| !q.scale.is_empty())
            .map(|q| QuantReport {
                scale: q.scale.iter().collect(),
                zero_point: q.zero_point.iter().collect(),
                quantized_dimension: q.quantized_dimension,
            });
        out.push(TensorReport {
            index: k,
            name: t.name()?.unwrap_or("").to_string(),
            ty: ty.name().to_string(),
            bytes: tensor_bytes(ty, &shape),
            shape,
            shape_signature: (!signature.is_empty()).then(|| signature.iter().collect()),
            buffer,
            kind,
            quantization,
        });
    }
    Ok(out)
}

fn elements(shape: &[i32]) -> Option<u64> {
    shape
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(u64::try_from(d).ok()?))
}

fn tensor_bytes(ty: TensorType, shape: &[i32]) -> Option<u64> {
    let n = elements(shape)?;
    match ty {
        TensorType::Int4 | TensorType::UInt4 => Some(n.div_ceil(2)),
        TensorType::Int2 => Some(n.div_ceil(4)),
        _ => n.checked_mul(ty.size_bytes()? as u64),
    }
}

/// Multiply-accumulates of one operator, for the ops where they dominate the
/// cost; element-wise ops and data movement count as 0.
fn estimate_macs(
    code: BuiltinOperator,
    inputs: &[i32],
    outputs: &[i32],
    tensors: &[TensorReport],
) -> u64 {
    let shape = |list: &[i32], i: usize| -> Option<&[i32]> {
        let k = usize::try_from(*list.get(i)?).ok()?;
        tensors.get(k).map(|t| t.shape.as_slice())
    };
    let n = |s: Option<&[i32]>| s.and_then(elements);
    let dim = |s: Option<&[i32]>, d: usize| {
        s.and_then(|s| s.get(d))
            .and_then(|&v| u64::try_from(v).ok())
    };
    let out = n(shape(outputs, 0));
    let filter = shape(inputs, 1);
    let macs = match code {
        // Each output element sums kernel_h * kernel_w * in_channels products.
        op::CONV_2D => out
            .zip(dim(filter, 1))
            .zip(dim(filter, 2))
            .zip(dim(filter, 3))
            .and_then(|(((o, kh), kw), ci)| o.checked_mul(kh)?.checked_mul(kw)?.checked_mul(ci)),
        op::DEPTHWISE_CONV_2D => out
            .zip(dim(filter, 1))
            .zip(dim(filter, 2))
            .and_then(|((o, kh), kw)| o.checked_mul(kh)?.checked_mul(kw)),
        op::FULLY_CONNECTED => out.zip(dim(filter, 1)).and_then(|(o, k)| o.checked_mul(k)),
        // Every input element is scattered over kernel_h * kernel_w * out_channels outputs.
        op::TRANSPOSE_CONV => n(shape(inputs, 2))
            .zip(dim(filter, 0))
            .zip(dim(filter, 1))
            .zip(dim(filter, 2))
            .and_then(|(((i, co), kh), kw)| i.checked_mul(co)?.checked_mul(kh)?.checked_mul(kw)),
        op::BATCH_MATMUL => {
            let a = shape(inputs, 0);
            let k = a
                .and_then(|s| s.last())
                .and_then(|&v| u64::try_from(v).ok());
            out.zip(k).and_then(|(o, k)| o.checked_mul(k))
        }
        // Feature weights over the input, then time weights over the memory.
        op::SVDF => {
            let batch = dim(shape(inputs, 0), 0);
            let feature = n(shape(inputs, 1));
            let time = n(shape(inputs, 2));
            batch
                .zip(feature)
                .zip(time)
                .and_then(|((b, f), t)| b.checked_mul(f.checked_add(t)?))
        }
        _ => Some(0),
    };
    macs.unwrap_or(0)
}

fn activation(map: &mut Map<String, Value>, a: Activation) {
    if a != Activation::None {
        map.insert("activation".into(), json!(a.name()));
    }
}

/// The options a reader of the model cares about, for the common ops.
fn options(code: BuiltinOperator, op: &Operator<'_>) -> Result<Map<String, Value>, ReadError> {
    let mut m = Map::new();
    match code {
        op::CONV_2D => {
            let o: Conv2DOptions = op.options()?;
            m.insert("stride".into(), json!([o.stride_h, o.stride_w]));
            m.insert("padding".into(), json!(o.padding.name()));
            m.insert(
                "dilation".into(),
                json!([o.dilation_h_factor, o.dilation_w_factor]),
            );
            activation(&mut m, o.activation);
        }
        op::DEPTHWISE_CONV_2D => {
            let o: DepthwiseConv2DOptions = op.options()?;
            m.insert("stride".into(), json!([o.stride_h, o.stride_w]));
            m.insert("padding".into(), json!(o.padding.name()));
            m.insert(
                "dilation".into(),
                json!([o.dilation_h_factor, o.dilation_w_factor]),
            );
            m.insert("depth_multiplier".into(), json!(o.depth_multiplier));
            activation(&mut m, o.activation);
        }
        op::AVERAGE_POOL_2D | op::MAX_POOL_2D | op::L2_POOL_2D => {
            let o: Pool2DOptions = op.options()?;
            m.insert("filter".into(), json!([o.filter_height, o.filter_width]));
            m.insert("stride".into(), json!([o.stride_h, o.stride_w]));
            m.insert("padding".into(), json!(o.padding.name()));
            activation(&mut m, o.activation);
        }
        op::FULLY_CONNECTED => {
            let o: FullyConnectedOptions = op.options()?;
            if o.keep_num_dims {
                m.insert("keep_num_dims".into(), json!(true));
            }
            activation(&mut m, o.activation);
        }
        _ => generic_options(op, &mut m)?,
    }
    // An activation of NONE is the default and only noise.
    m.retain(|_, v| v != "NONE");
    Ok(m)
}

fn generic_options(op: &Operator<'_>, m: &mut Map<String, Value>) -> Result<(), ReadError> {
    use tflm_runtime::schema as s;
    let Some(raw) = op.builtin_options()? else {
        return Ok(());
    };
    macro_rules! show {
        ($($t:ident => |$o:ident| $body:expr;)*) => {$(
            if raw.tag == s::$t::TAG {
                let $o: s::$t = op.options()?;
                for (k, v) in $body {
                    m.insert(k.to_string(), v);
                }
                return Ok(());
            }
        )*};
    }
    show! {
        SoftmaxOptions => |o| [("beta", json!(o.beta))];
        ConcatenationOptions => |o| [("axis", json!(o.axis)), ("activation", json!(o.activation.name()))];
        AddOptions => |o| [("activation", json!(o.activation.name()))];
        SubOptions => |o| [("activation", json!(o.activation.name()))];
        MulOptions => |o| [("activation", json!(o.activation.name()))];
        SVDFOptions => |o| [("rank", json!(o.rank)), ("activation", json!(o.activation.name()))];
        LeakyReluOptions => |o| [("alpha", json!(o.alpha))];
        ReducerOptions => |o| [("keep_dims", json!(o.keep_dims))];
        GatherOptions => |o| [("axis", json!(o.axis)), ("batch_dims", json!(o.batch_dims))];
        PackOptions => |o| [("axis", json!(o.axis)), ("values_count", json!(o.values_count))];
        UnpackOptions => |o| [("axis", json!(o.axis)), ("num", json!(o.num))];
        TransposeConvOptions => |o| [
            ("stride", json!([o.stride_h, o.stride_w])),
            ("padding", json!(o.padding.name())),
        ];
    }
    if let Some(r) = op.reshape_options()? {
        if !r.new_shape.is_empty() {
            m.insert(
                "new_shape".into(),
                json!(r.new_shape.iter().collect::<Vec<_>>()),
            );
        }
    }
    Ok(())
}

fn shape_text(shape: &[i32]) -> String {
    let dims: Vec<String> = shape.iter().map(i32::to_string).collect();
    format!("[{}]", dims.join(","))
}

fn quant_text(q: &Option<QuantReport>) -> String {
    match q {
        None => String::new(),
        Some(q) if q.scale.len() == 1 => {
            format!(
                "s={:.6e} zp={}",
                q.scale[0],
                q.zero_point.first().copied().unwrap_or(0)
            )
        }
        Some(q) => format!(
            "per-channel x{} (dim {})",
            q.scale.len(),
            q.quantized_dimension
        ),
    }
}

fn options_text(options: &Map<String, Value>) -> String {
    let parts: Vec<String> = options
        .iter()
        .map(|(k, v)| match v {
            Value::String(s) => s.clone(),
            Value::Array(a) => format!(
                "{k} {}",
                a.iter()
                    .map(|x| x.to_string())
                    .collect::<Vec<_>>()
                    .join("x")
            ),
            v => format!("{k}={v}"),
        })
        .collect();
    parts.join(", ")
}

fn human(n: u64) -> String {
    match n {
        n if n >= 10_000_000 => format!("{:.1} M", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1} k", n as f64 / 1e3),
        n => n.to_string(),
    }
}

fn table(header: &[&str]) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING);
    t.set_header(header.to_vec());
    t
}

/// The report as text for a person.
pub fn render(r: &Report) -> String {
    let mut out = String::new();
    let supported = r.operator_codes.iter().filter(|c| c.supported).count();
    out += &format!("Model      {}\n", r.file);
    out += &format!(
        "Size       {} bytes (schema version {})\n",
        r.size_bytes, r.version
    );
    if let Some(d) = &r.description {
        out += &format!("Described  {d}\n");
    }
    out += &format!("Subgraphs  {}\n", r.subgraphs.len());
    out += &format!("Parameters {} bytes\n", r.parameter_bytes);
    out += &format!("MACs       {} per inference\n", human(r.macs));
    out += &format!(
        "Operators  {} kinds, {} supported by this runtime\n",
        r.operator_codes.len(),
        supported
    );
    for (s, sg) in r.subgraphs.iter().enumerate() {
        let io = |list: &[i32]| {
            list.iter()
                .map(|&i| {
                    let t = usize::try_from(i).ok().and_then(|i| sg.tensors.get(i));
                    match t {
                        Some(t) => format!("{i} {} {}", t.ty, shape_text(&t.shape)),
                        None => i.to_string(),
                    }
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        out += &format!(
            "\nSubgraph {s}{}: inputs {}; outputs {}\n",
            sg.name
                .as_deref()
                .map(|n| format!(" ({n})"))
                .unwrap_or_default(),
            io(&sg.inputs),
            io(&sg.outputs)
        );
        let mut t = table(&[
            "#",
            "name",
            "type",
            "shape",
            "quantization",
            "bytes",
            "kind",
        ]);
        for x in &sg.tensors {
            t.add_row(vec![
                x.index.to_string(),
                x.name.clone(),
                x.ty.clone(),
                shape_text(&x.shape),
                quant_text(&x.quantization),
                x.bytes.map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
                x.kind.to_string(),
            ]);
        }
        right_align(&mut t, &[0, 5]);
        out += &format!("\nTensors\n{t}\n");
        let mut t = table(&[
            "#",
            "op",
            "ver",
            "inputs -> outputs",
            "options",
            "MACs",
            "supported",
        ]);
        for o in &sg.operators {
            let list = |l: &[i32]| l.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            t.add_row(vec![
                o.index.to_string(),
                o.op.clone(),
                o.version.to_string(),
                format!("{} -> {}", list(&o.inputs), list(&o.outputs)),
                options_text(&o.options),
                human(o.macs),
                if o.supported { "yes" } else { "no" }.to_string(),
            ]);
        }
        right_align(&mut t, &[0, 2, 5]);
        out += &format!("\nOperators\n{t}\n");
    }
    if !r.metadata.is_empty() {
        out += "\nMetadata\n";
        for m in &r.metadata {
            out += &format!(
                "  {} ({} bytes)\n",
                m.name.as_deref().unwrap_or("?"),
                m.bytes
            );
        }
    }
    for s in &r.signature_defs {
        let names = |l: &[(Option<String>, u32)]| {
            l.iter()
                .map(|(n, i)| format!("{}={i}", n.as_deref().unwrap_or("?")))
                .collect::<Vec<_>>()
                .join(", ")
        };
        out += &format!(
            "\nSignature {} (subgraph {}): inputs {}; outputs {}\n",
            s.key.as_deref().unwrap_or("?"),
            s.subgraph,
            names(&s.inputs),
            names(&s.outputs)
        );
    }
    let mut missing: Vec<&str> = Vec::new();
    for c in r.operator_codes.iter().filter(|c| !c.supported) {
        if !missing.contains(&c.op.as_str()) {
            missing.push(&c.op);
        }
    }
    if !missing.is_empty() {
        out += &format!("\nNot supported by this runtime: {}\n", missing.join(", "));
    }
    out
}

fn right_align(t: &mut Table, columns: &[usize]) {
    for &c in columns {
        if let Some(col) = t.column_mut(c) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
}
