//! Naming the quantization scheme of initializers from the operators that consume them.
//! Quantized weights are reported as stored (int8/uint8/int4 values, their scales and zero
//! points as separate tensors); the scheme says how a runtime combines them.

use std::collections::HashMap;

use super::proto::NodeProto;

/// The scheme of tensors consumed by `node`, if it is a quantization operator.
fn scheme_of(node: &NodeProto) -> Option<&'static str> {
    Some(match node.op_type.as_str() {
        // QDQ format: `DequantizeLinear(x, x_scale, x_zero_point)` after quantized weights,
        // `QuantizeLinear` on activations.
        "DequantizeLinear" | "QuantizeLinear" => "onnx-qdq",
        // Operator-oriented format: QLinearConv, QLinearMatMul, com.microsoft QLinearAdd, QGemm...
        op if op.starts_with("QLinear") || op == "QGemm" || op == "QAttention" => "onnx-qlinear",
        // Dynamic quantization: int8 weights with zero points, activation scales computed at run time.
        "MatMulInteger" | "ConvInteger" | "DynamicQuantizeMatMul" | "DynamicQuantizeLSTM" => "onnx-dynamic-int8",
        // com.microsoft block-wise n-bit weights (onnxruntime's MatMul4Bits quantizer).
        "MatMulNBits" | "GatherBlockQuantized" => "onnx-matmulnbits",
        _ => return None,
    })
}

/// Adds the scheme of each quantization operator in `nodes` to every input it consumes.
pub fn collect(nodes: &[NodeProto], schemes: &mut HashMap<String, &'static str>) {
    for node in nodes {
        if let Some(scheme) = scheme_of(node) {
            for input in node.input.iter().filter(|i| !i.is_empty()) {
                schemes.entry(input.clone()).or_insert(scheme);
            }
        }
    }
}
