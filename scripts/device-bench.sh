#!/usr/bin/env bash
# `sacodec bench` on the device machine's NVIDIA GPU through burn-wgpu on Vulkan: the kernels
# the page runs on WebGPU (issue 11). The device has no Rust toolchain and no network, so the
# binary and the Vulkan loader travel from here (TOOLCHAIN.md, "Native burn").
#
#   scripts/device-bench.sh --prepare    # here: release build with `--features vulkan`, xz'd,
#                                         # and libvulkan1's .deb, into target/device/ (~25 MB)
#   bash scripts/device-bench.sh          # there (the device tool, carrying target/device):
#                                         # bench.json and the log for Vulkan and the CPU in $OUT
#
# Not yet run on a GPU: no device has been lent to this project's sessions so far.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=target/device

if [ "${1:-}" = --prepare ]; then
    cargo build --release --features vulkan --bin sacodec
    mkdir -p "$dir"
    strip -o "$dir/sacodec" target/release/sacodec
    xz -6 -T2 -f "$dir/sacodec"
    (cd "$dir" && rm -f libvulkan1_*.deb && apt-get download libvulkan1)
    ls -la "$dir"
    exit 0
fi

out=${OUT:-$dir/out}
mkdir -p "$out"
xz -dc "$dir/sacodec.xz" > /tmp/sacodec
chmod +x /tmp/sacodec
dpkg -x "$dir"/libvulkan1_*.deb / && ldconfig
icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
[ -f "$icd" ] && export VK_DRIVER_FILES=$icd
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt" || true
for device in vulkan cpu; do
    /tmp/sacodec --weights weights/sacodec.safetensors bench www/samples/kodim23.png \
        --device "$device" --runs 10 --json "$out/bench-$device.json" 2>&1 | tee "$out/bench-$device.log"
done
