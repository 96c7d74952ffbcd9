#!/usr/bin/env python3
"""Writes the tensor-name table of weightlens from llama.cpp's gguf-py.

gguf-py (`pip install gguf`) is the source of truth for how Hugging Face tensor names map to GGUF
names: `constants.py` has the tensor kinds (`MODEL_TENSOR`), their GGUF name templates
(`TENSOR_NAMES`) and which kinds each architecture has (`MODEL_TENSORS`); `tensor_mapping.py`
(`TensorNameMap`) has the Hugging Face patterns of every kind. This script reads the installed
package and writes

  core/src/naming/gguf_table.rs     the kinds (GGUF template, HF patterns, block type, stack,
                                    whether `{bid}` is a layer), the architectures and their kinds
  core/tests/data/naming_corpus.json
                                    every HF pattern and GGUF name instantiated at block 7, with the
                                    expected kind, block type, stack and layer (unit-test oracle),
                                    and gguf-py's own HF -> GGUF mapping at block 7 for a set of
                                    architectures (round-trip oracle of `hf_to_gguf`).

The block type and stack of a kind are weightlens's vocabulary (docs/output-spec.md), assigned by
the rules below from the kind's name and GGUF template; gguf-py does not define them.

Usage: python scripts/gen_name_table.py   (from the repository root, with gguf installed)
"""

import json
import re
import sys
from pathlib import Path

import gguf
from gguf.constants import MODEL_ARCH, MODEL_ARCH_NAMES, MODEL_TENSOR, MODEL_TENSORS, TENSOR_NAMES
from gguf.tensor_mapping import TensorNameMap

ROOT = Path(__file__).resolve().parent.parent
TABLE = ROOT / "core/src/naming/gguf_table.rs"
CORPUS = ROOT / "core/tests/data/naming_corpus.json"
BLOCK = 7

# Architectures whose full gguf-py mapping goes into the corpus for the hf_to_gguf round trip.
ROUND_TRIP_ARCHS = [
    "llama", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "phi3", "gemma", "gemma2", "gemma3", "gemma3n",
    "deepseek2", "gpt2", "gptneox", "bert", "t5", "mamba", "rwkv6", "falcon", "starcoder2", "clip",
    "llama4", "gpt-oss", "granitehybrid", "qwen3next", "lfm2",
]

# (regex on the MODEL_TENSOR name, block type), first match wins.
BLOCK_TYPE_RULES = [
    (r"^ATTN_(ROT_EMBD)$|^ROPE_", "rope"),
    (r"NORM|_LN$|^V_ENC_CONV_STEM_NORM$|MSFA_.*_NORM", "norm"),
    (r"_REL_B$|_K_REL$|POS_EMBD|_POS_[HW]$|REL_POS_EMB|LINEAR_POS|POS_BIAS_[UV]|^A_ENC_EMBD_POS$", "pos_embedding"),
    (r"^(TOKEN_EMBD|TOKEN_TYPES|PER_LAYER_TOKEN_EMBD|NEXTN_EMBED_TOKENS)$", "embedding"),
    (r"^V_ENC_EMBD_|^V_SAM_PATCH_EMBD$|^V_TOK_|^V_MM_EMBEDDING$|^A_MM_EMBEDDING$", "embedding"),
    (r"^(OUTPUT|CLS|CLS_OUT|DENSE_\d_OUT|NEXTN_SHARED_HEAD_HEAD|A_CTC_OUT|A_CTC_OUT_MID|A_ENC_EMBD_TO_LOGITS)$", "output"),
    (r"^ATTN_Q_A$", "q_a_proj"),
    (r"^(ATTN_Q_B|INDEXER_ATTN_Q_B)$", "q_b_proj"),
    (r"^ATTN_KV_A_MQA$", "kv_a_proj"),
    (r"^(ATTN_KV_B|ATTN_K_B|ATTN_V_B)$", "kv_b_proj"),
    (r"^ATTN_SINKS$", "attn_sink"),
    (r"^ATTN_GATE$", "attn_gate"),
    (r"QKV$", "qkv_proj"),
    (r"^V_RESMPL_KV$", "kv_proj"),
    (r"ATTN_Q$|^INDEXER_ATTN_Q", "q_proj"),
    (r"ATTN_K$", "k_proj"),
    (r"ATTN_V$", "v_proj"),
    (r"ATTN_(OUT|O)$|^A_ENC_OUTPUT$", "o_proj"),
    (r"^FFN_GATE_INP|^FFN_EXP_PROBS_B$", "moe_router"),
    (r"_SHEXP$", "moe_shared_expert"),
    (r"_EXP$|_CHEXP$", "moe_expert"),
    (r"^MOE_LATENT_", "moe"),
    (r"^SSM_IN$|^SHORTCONV_INPROJ$", "ssm_in"),
    (r"^SSM_OUT$|^SHORTCONV_OUTPROJ$", "ssm_out"),
    (r"^SSM_CONV1D", "ssm_conv"),
    (r"^SSM_DT$", "ssm_dt"),
    (r"^SSM_A$", "ssm_a"),
    (r"^SSM_D$", "ssm_d"),
    (r"^SSM_", "ssm"),
    (r"^TIME_MIX_", "rwkv_time_mix"),
    (r"^CHANNEL_MIX_", "rwkv_channel_mix"),
    (r"_GATE$|_GATE_1$", "mlp_gate"),
    (r"_UP$|_UP_1$|^V_SAM_MLP_LIN_1$|^V_DS_FC1$", "mlp_up"),
    (r"_DOWN$|_DOWN_1$|^V_SAM_MLP_LIN_2$|^V_DS_FC2$", "mlp_down"),
    (r"^FFN_GATE$", "mlp_gate"),
    (r"SCALE|^FFN_ACT$|^CONVNEXT_GAMMA$|^V_STD_BIAS$", "scale"),
    (r"CONV|^V_SAM_NECK$|^V_SAM_NET_\d$|^V_ENC_MSFA_(EXP|PROJ)$", "conv"),
    (r"^V_MMPROJ|^A_MMPROJ|^V_MM_|^A_MM_|^V_RESMPL_|^A_QF_PROJ_|^A_ENC_INP_PROJ$|^A_ENC_OUT$"
     r"|^NEXTN_EH_PROJ$|^V_MM_PATCH_MERGER$", "projector"),
    (r"^(PER_LAYER_MODEL_PROJ|PER_LAYER_PROJ|ALTUP_PROJ|ALTUP_UNEMBD_PROJ|LAUREL_L|LAUREL_R)$", "projector"),
    (r"^PER_LAYER_INP_GATE$|^ALTUP_ROUTER$", "mlp_gate"),
]

# A fused gate+up projection (Phi-3 `gate_up_proj`) is one kind (FFN_UP) in gguf-py; its block type
# follows the pattern's last word.
PATTERN_OVERRIDES = [(re.compile(r"(^|\.)gate_up_proj$"), {"mlp_up": "mlp_gate_up"})]

# Kinds whose `{bid}` numbers the blocks of a stack (a layer); elsewhere it is a sub-module index.
LAYER_TEMPLATE = re.compile(r"(^|\.)(blk|proj_blk)\.\{bid\}\.")


def block_type(kind: MODEL_TENSOR) -> str:
    for rule, bt in BLOCK_TYPE_RULES:
        if re.search(rule, kind.name):
            return bt
    return "other"


def stack(kind: MODEL_TENSOR) -> str:
    template = TENSOR_NAMES[kind]
    if template.startswith(("mm.", "resampler.")) or kind.name.startswith(("A_QF_", "V_DS_")):
        return "projector"
    for prefix, name in (("v.", "vision"), ("a.", "audio"), ("enc.", "encoder"), ("dec.", "decoder")):
        if template.startswith(prefix):
            return name
    if ".nextn." in template:
        return "mtp"
    return ""


def hf_patterns(kind: MODEL_TENSOR) -> list[str]:
    return list(TensorNameMap.mappings_cfg.get(kind, ())) + list(TensorNameMap.block_mappings_cfg.get(kind, ()))


def pattern_block_type(bt: str, pattern: str) -> str:
    for rx, remap in PATTERN_OVERRIDES:
        if rx.search(pattern) and bt in remap:
            return remap[bt]
    return bt


def rust_str(s: str) -> str:
    return json.dumps(s)


def with_suffix(name: str) -> str:
    """A realistic stored name: parameters already named (`inv_freq`, `*_bias`) keep their name."""
    last = name.rsplit(".", 1)[-1]
    if last in ("weight", "bias", "inv_freq") or last.endswith("bias") or last.endswith("_freq"):
        return name
    return name + ".weight"


def main() -> None:
    kinds = list(MODEL_TENSOR)
    index = {k: i for i, k in enumerate(kinds)}
    arch_names = {a: MODEL_ARCH_NAMES[a] for a in MODEL_ARCH}
    overrides = TensorNameMap.arch_block_mappings_cfg

    out = []
    out.append("// @generated by scripts/gen_name_table.py from gguf-py %s; do not edit." % gguf_version())
    out.append("//! gguf-py's tensor kinds, their GGUF templates and Hugging Face patterns, per architecture.")
    out.append("")
    out.append("use super::{BlockType, Stack};")
    out.append("use super::table::{Arch, Kind, PatternOverride};")
    out.append("")
    out.append("/// The version of the `gguf` Python package the table was generated from.")
    out.append("pub const GGUF_PY_VERSION: &str = %s;" % rust_str(gguf_version()))
    out.append("")
    out.append("/// Every `MODEL_TENSOR` kind of gguf-py, in its order.")
    out.append("pub const KINDS: &[Kind] = &[")
    for k in kinds:
        bt = block_type(k)
        pats = ", ".join(rust_str(p) for p in hf_patterns(k))
        out.append(
            "    Kind { name: %s, gguf: %s, block_type: BlockType::%s, stack: Stack::%s, per_layer: %s, hf: &[%s] },"
            % (rust_str(k.name), rust_str(TENSOR_NAMES[k]), camel(bt), camel(stack(k) or "main"),
               "true" if LAYER_TEMPLATE.search(TENSOR_NAMES[k] + ".") else "false", pats)
        )
    out.append("];")
    out.append("")
    out.append("/// Hugging Face patterns whose block type differs from their kind's (a fused `gate_up_proj`).")
    out.append("pub const PATTERN_BLOCK_TYPES: &[(&str, BlockType)] = &[")
    seen = set()
    for k in kinds:
        for p in hf_patterns(k):
            bt = pattern_block_type(block_type(k), p)
            if bt != block_type(k) and p not in seen:
                seen.add(p)
                out.append("    (%s, BlockType::%s)," % (rust_str(p), camel(bt)))
    out.append("];")
    out.append("")
    out.append("/// gguf-py's architectures (`general.architecture`) and their mapped kinds (indices into KINDS), in map order.")
    out.append("pub const ARCHS: &[Arch] = &[")
    # In the order gguf-py's TensorNameMap inserts them (a later entry wins): the kinds of
    # mappings_cfg, then those of block_mappings_cfg; kinds without patterns are not in its map.
    mapped = list(TensorNameMap.mappings_cfg) + list(TensorNameMap.block_mappings_cfg)
    for a in MODEL_ARCH:
        own = set(MODEL_TENSORS.get(a, ()))
        ids = ", ".join(str(index[k]) for k in mapped if k in own)
        out.append("    Arch { name: %s, kinds: &[%s] }," % (rust_str(arch_names[a]), ids))
    out.append("];")
    out.append("")
    out.append("/// Per-architecture replacements of a kind's Hugging Face patterns (`arch_block_mappings_cfg`).")
    out.append("pub const ARCH_OVERRIDES: &[PatternOverride] = &[")
    for a, m in overrides.items():
        for k, pats in m.items():
            out.append(
                "    PatternOverride { arch: %s, kind: %d, hf: &[%s] },"
                % (rust_str(arch_names[a]), index[k], ", ".join(rust_str(p) for p in pats))
            )
    out.append("];")
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text("\n".join(out) + "\n")

    # The corpus: every HF pattern and every GGUF template, at block 7.
    names = []
    for k in kinds:
        expect = {"kind": k.name, "stack": stack(k),
                  "layer": BLOCK if LAYER_TEMPLATE.search(TENSOR_NAMES[k] + ".") else None}
        gguf_name = with_suffix(TENSOR_NAMES[k].format(bid=BLOCK))
        names.append({"name": gguf_name, "source": "gguf", "block_type": block_type(k), **expect})
        for p in hf_patterns(k):
            bt = pattern_block_type(block_type(k), p)
            names.append({"name": with_suffix(p.format(bid=BLOCK)), "source": "hf", "block_type": bt, **expect})
    round_trip = {}
    for a in MODEL_ARCH:
        name = arch_names[a]
        if name not in ROUND_TRIP_ARCHS:
            continue
        tmap = TensorNameMap(a, BLOCK + 1)
        # Only block BLOCK and the non-block names: the keys a map of BLOCK blocks lacks, plus the
        # keys of a map without blocks.
        keys = (set(tmap.mapping) - set(TensorNameMap(a, BLOCK).mapping)) | set(TensorNameMap(a, 0).mapping)
        pairs = {}
        for key in sorted(keys):
            for suffix in (".weight",):
                got = tmap.get_name(key + suffix, try_suffixes=(".weight", ".bias"))
                if got is not None:
                    pairs[key + suffix] = got
        round_trip[name] = pairs
    missing = sorted(set(ROUND_TRIP_ARCHS) - set(round_trip))
    if missing:
        sys.exit("unknown architectures: %s" % missing)
    CORPUS.parent.mkdir(parents=True, exist_ok=True)
    corpus = {"gguf_py_version": gguf_version(), "block": BLOCK, "names": names, "hf_to_gguf": round_trip}
    CORPUS.write_text(json.dumps(corpus, indent=0, sort_keys=True) + "\n")
    print("%d kinds, %d names, %d round-trip archs" % (len(kinds), len(names), len(round_trip)))


def camel(s: str) -> str:
    return "".join(part.capitalize() for part in s.split("_"))


def gguf_version() -> str:
    from importlib.metadata import version

    return version("gguf")


if __name__ == "__main__":
    main()
