#!/usr/bin/env bash
# Rebuilds data/lfw-xq, the embedded default competition, from the LFW dlib reference embeddings
# (../shared/data/lfw/reference, or $METRICBENCH_LFW/reference). Seeded: the same inputs give the same files.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
lfw="${METRICBENCH_LFW:-$here/../shared/data/lfw}"
ref="$lfw/reference"
keep="$(mktemp)"; cp "$here/data/lfw-xq/README.md" "$keep" 2>/dev/null || true
metricbench make-competition \
  clean="$ref/dev_clean_embeddings.npy" xq40="$ref/dev_xq40_embeddings.npy" \
  --labels "$ref/dev_clean_labels.csv" \
  --cross clean,xq40 --test-fraction 0.2 --pairs 4000 --same-fraction 0.5 --negatives random \
  --seed 0 --out "$here/data/lfw-xq" --overwrite
# the directory is replaced whole; put its hand-written README back
[ -s "$keep" ] && cp "$keep" "$here/data/lfw-xq/README.md"; rm -f "$keep"
