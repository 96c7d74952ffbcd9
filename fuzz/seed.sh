#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the fixtures (idempotent; the corpora are not committed).
# Usage: fuzz/seed.sh            (from anywhere; needs python3 for the zip/pickle extraction)
set -euo pipefail
cd "$(dirname "$0")"
fx=../fixtures
c=corpus
mkdir -p $c/{safetensors_header,gguf_header,dequant,pickle,torch_container,npy_header,npz,quant_safetensors,onnx,imatrix_dat}

cp $fx/dtypes.safetensors $fx/llama-tiny/*.safetensors $fx/bad/*.safetensors $c/safetensors_header/
cp $fx/*.gguf $fx/bad/*.gguf $c/gguf_header/
cp $fx/torch-quirks.pt $fx/gpt2-tiny-legacy.bin $fx/qwen-moe-tiny/pytorch_model.bin $fx/bad/malicious-pickle.bin \
    $c/torch_container/
cp $fx/lowrank.npy $fx/bad/object-array.npy $c/npy_header/
cp $fx/diff/imatrix/llama_tiny.imatrix.dat $c/imatrix_dat/
cp $fx/*.npz $c/npz/
# quant_safetensors: each quantized fixture behind the config byte of its scheme (see the target).
for f in $fx/quant/*/*.safetensors; do
    case "$f" in
        */gptq-*) k=1 ;; */awq-*) k=3 ;; */bnb-*) k=4 ;; */ct-w*) k=5 ;; */ct-fp8*) k=6 ;;
        */fp8-*) k=7 ;; */gptoss-*) k=8 ;; */mlx-*) k=9 ;; *) k=0 ;;
    esac
    { printf "\\$(printf '%03o' "$k")"; cat "$f"; } > "$c/quant_safetensors/$(basename "$(dirname "$f")")-$(basename "$f")"
done
cp $fx/onnx/*.onnx $c/onnx/

python3 - "$fx" "$c" <<'PY'
import io, os, sys, zipfile
fx, c = sys.argv[1], sys.argv[2]
# pickle: the data.pkl of each zip checkpoint, and the legacy file (its first pickle leads it).
for src in ["torch-quirks.pt", "qwen-moe-tiny/pytorch_model.bin"]:
    with zipfile.ZipFile(os.path.join(fx, src)) as z:
        for info in z.infolist():
            if info.filename.endswith("data.pkl"):
                name = os.path.basename(os.path.dirname(info.filename)) + ".pkl"
                open(os.path.join(c, "pickle", name), "wb").write(z.read(info))
open(os.path.join(c, "pickle", "malicious.pkl"), "wb").write(open(os.path.join(fx, "bad/malicious-pickle.bin"), "rb").read())
# torch_container: a deflated copy of the quirks checkpoint (torch writes stored members;
# the reader also handles deflated ones).
with zipfile.ZipFile(os.path.join(fx, "torch-quirks.pt")) as z, \
     zipfile.ZipFile(os.path.join(c, "torch_container", "quirks-deflated.pt"), "w", zipfile.ZIP_DEFLATED) as out:
    for info in z.infolist():
        out.writestr(info.filename, z.read(info))
# npy_header: every member of the npz fixtures.
for src in ["flax-tiny.npz"]:
    with zipfile.ZipFile(os.path.join(fx, src)) as z:
        for i, info in enumerate(z.infolist()):
            open(os.path.join(c, "npy_header", f"member{i}.npy"), "wb").write(z.read(info))
# dequant: one seed per ggml type index (the first byte picks the type): 256 bytes of real
# quantized data from the all-types fixture after the pick byte.
data = open(os.path.join(fx, "all-types.gguf"), "rb").read()
for pick in range(40):
    start = (len(data) // 2 + pick * 997) % max(1, len(data) - 600)
    open(os.path.join(c, "dequant", f"type{pick}"), "wb").write(bytes([pick]) + data[start:start + 576])
PY
for d in $c/*/; do echo "$(ls "$d" | wc -l) seeds in $d"; done
