#!/bin/sh
# Trunk's post_build hook (Trunk.toml): writes the gzip'd weights into the site, then prints
# what a first visit transfers from a host that gzips what it serves (the samples are fetched
# only when clicked; a repeat visit reads the weights from the Cache API: 0 B).
set -eu
site=$TRUNK_STAGING_DIR
mkdir -p "$site/weights"
gzip -9 -n -c "$TRUNK_SOURCE_DIR/../weights/sacodec.safetensors" > "$site/weights/sacodec.safetensors.gz"

echo "first visit, as a gzipping host serves it:"
total=0
for f in $(cd "$site" && find . -type f ! -path './samples/*' | sort); do
    raw=$(wc -c < "$site/$f")
    case "$f" in
        *.gz|*.png) sent=$raw ;;   # already compressed: served as is
        *) sent=$(gzip -9 -n -c "$site/$f" | wc -c) ;;
    esac
    total=$((total + sent))
    printf '  %10d B  (%10d B on disk)  %s\n' "$sent" "$raw" "${f#./}"
done
awk -v t="$total" 'BEGIN { printf "  %10d B  = %.2f MB in all (target: <= 8 MB)\n", t, t / 1e6 }'
