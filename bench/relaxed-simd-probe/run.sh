#!/usr/bin/env bash
# Probe (issue 5, a benchmark, not a test): does fusing onnxruntime-web's SIMD multiply-add
# pairs into relaxed-SIMD FMA speed up the WASM runtime? Rewrites every adjacent
# `f32x4.mul; f32x4.add` of the stock ort-wasm-simd-threaded.jsep.wasm into
# `f32x4.relaxed_madd` (wabt's wasm2wat/wat2wasm, Debian package `wabt`), then times the stock
# and the fused runtime side by side in headless Chromium on one ONNX file (interleaved runs).
# Usage: bash bench/relaxed-simd-probe/run.sh <model.onnx> [runs] [threads]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
model="$(realpath "$1")"; runs="${2:-7}"; threads="${3:-2}"
command -v wasm2wat >/dev/null || { echo "needs wabt: apt-get install -y wabt" >&2; exit 2; }
work="$repo/.cache/relaxed-simd-probe"; site="$work/site"
dist="$repo/node_modules/onnxruntime-web/dist"
mkdir -p "$site/stock" "$site/fma"
cp "$dist/ort.mjs" "$dist/ort-wasm-simd-threaded.jsep.mjs" "$site/"
cp "$dist/ort-wasm-simd-threaded.jsep.wasm" "$site/stock/"
wasm2wat --enable-all "$dist/ort-wasm-simd-threaded.jsep.wasm" -o "$work/stock.wat"
python3 "$here/fuse_mul_add.py" "$work/stock.wat" "$work/fma.wat"
wat2wasm --enable-all "$work/fma.wat" -o "$site/fma/ort-wasm-simd-threaded.jsep.wasm"
rm -f "$work/stock.wat" "$work/fma.wat"
ln -sf "$model" "$site/model.onnx"
cd "$repo" && node "$here/ab.mjs" "$site" "$runs" "$threads"
