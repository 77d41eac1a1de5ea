#!/bin/sh
# Trunk's post_build hook (Trunk.toml): writes the weights into the site, LZMA-compressed (xz's
# `--format=lzma -9e`: 4.40 MB where gzip -9 makes 4.77 of the ten-level bundle), then prints
# what a first visit transfers from a host that gzips what it serves, on the CPU path and on
# the WebGPU path (each loads one worker's wasm; the samples are fetched only when clicked; a
# repeat visit reads the weights from the Cache API: 0 B).
set -eu
site=$TRUNK_STAGING_DIR
mkdir -p "$site/weights"
# Compressed once per bundle (it takes 12 s; a rebuild of the page should not wait for it).
weights=$TRUNK_SOURCE_DIR/../weights/sacodec.safetensors
packed=$TRUNK_SOURCE_DIR/../target/site-weights/$(sha256sum "$weights" | cut -c1-16).lzma
if [ ! -f "$packed" ]; then
    mkdir -p "$(dirname "$packed")"
    xz --format=lzma -9e -c "$weights" > "$packed.tmp"
    mv "$packed.tmp" "$packed"
fi
cp "$packed" "$site/weights/sacodec.safetensors.lzma"

echo "first visit, as a gzipping host serves it (each path fetches one worker's wasm):"
total=0 cpu_only=0 gpu_only=0
for f in $(cd "$site" && find . -type f ! -path './samples/*' | sort); do
    raw=$(wc -c < "$site/$f")
    case "$f" in
        *.lzma|*.png) sent=$raw ;;   # already compressed: served as is
        *) sent=$(gzip -9 -n -c "$site/$f" | wc -c) ;;
    esac
    case "$f" in
        ./sacodec-worker_bg.wasm) cpu_only=$sent ;;
        ./sacodec-worker-gpu_bg.wasm) gpu_only=$sent ;;
        *) total=$((total + sent)) ;;
    esac
    printf '  %10d B  (%10d B on disk)  %s\n' "$sent" "$raw" "${f#./}"
done
for path in "CPU:$cpu_only" "WebGPU:$gpu_only"; do
    awk -v p="${path%%:*}" -v t="$((total + ${path#*:}))" \
        'BEGIN { printf "  %10d B  = %.2f MB on the %s path (target: <= 8 MB)\n", t, t / 1e6, p }'
done
