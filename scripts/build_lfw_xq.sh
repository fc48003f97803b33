#!/usr/bin/env bash
# Rebuilds metricbench/data/lfw-xq, the embedded default competition (shipped inside the package), from the LFW
# dlib reference embeddings. Seeded: the same inputs give the same files, byte for byte.
#
# Where the inputs come from
#   Labeled Faces in the Wild (LFW), deep-funneled images: http://vis-www.cs.umass.edu/lfw/ (the project's site;
#   its website repository is github.com/umass-vis-lfw/umass-vis-lfw.github.io). LFW has no licence file; it was
#   published for research on face verification. Cite Huang et al., UMass TR 07-49, 2007 (see
#   metricbench/data/lfw-xq/README.md).
#   The embeddings: `metricbench extract <LFW>/images --out <dir>` (clean) and `... --degrade xq40` (degraded),
#   or the reference files a development checkout finds in ../shared/data/lfw/reference
#   (dev_clean_embeddings.npy, dev_xq40_embeddings.npy, dev_clean_labels.csv).
#
#   scripts/build_lfw_xq.sh                        # reads ../shared/data/lfw/reference
#   METRICBENCH_LFW=/path/to/lfw scripts/build_lfw_xq.sh   # reads /path/to/lfw/reference
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
lfw="${METRICBENCH_LFW:-$here/../shared/data/lfw}"
ref="$lfw/reference"
out="$here/metricbench/data/lfw-xq"
if [ ! -f "$ref/dev_clean_embeddings.npy" ]; then
  echo "error: $ref/dev_clean_embeddings.npy not found: set METRICBENCH_LFW to a folder whose reference/ holds" \
       "the LFW embeddings (LFW itself: http://vis-www.cs.umass.edu/lfw/; embed it with metricbench extract)" >&2
  exit 2
fi
keep="$(mktemp)"; cp "$out/README.md" "$keep" 2>/dev/null || true
metricbench make-competition \
  clean="$ref/dev_clean_embeddings.npy" xq40="$ref/dev_xq40_embeddings.npy" \
  --labels "$ref/dev_clean_labels.csv" \
  --cross clean,xq40 --test-fraction 0.2 --pairs 4000 --same-fraction 0.5 --negatives random \
  --seed 0 --out "$out" --overwrite
# the directory is replaced whole; put its hand-written README back
[ -s "$keep" ] && cp "$keep" "$out/README.md"; rm -f "$keep"
