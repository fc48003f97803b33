#!/usr/bin/env bash
# Worked example: image folders -> embeddings -> a learned metric fitted on OTHER identities -> a ranked
# submission naming identities. Leak-free by construction: the labelled train folder holds no identity of the
# query/gallery folders, so the metric cannot have seen the people (or the photos) it ranks.
#
#   scripts/example_images_to_ranking.sh [WORK]        # default WORK=runs/student
#
# Needs the extract extra (pip install -e ".[extract]": dlib + its model weights, nothing is downloaded) and
# LFW's images: Labeled Faces in the Wild, http://vis-www.cs.umass.edu/lfw/ (deep-funneled, one folder per
# person); set METRICBENCH_LFW to the folder holding images/ (default ../shared/data/lfw in a development
# checkout). Sizes: N_QUERY identities (default 25) with 4-20 photos give one query photo each and the rest to the
# gallery; N_TRAIN other identities (default 80) with 2-20 photos form the labelled train folder.
# Time: about 5 minutes on 2 busy cores (most of it extracting about 500 faces at 2-3 faces/s).
set -euo pipefail
work="${1:-runs/student}"
lfw="${METRICBENCH_LFW:-$(cd "$(dirname "$0")/.." && pwd)/../shared/data/lfw}"
if [ ! -d "$lfw/images" ]; then
  echo "error: $lfw/images not found: download LFW (http://vis-www.cs.umass.edu/lfw/) and set METRICBENCH_LFW" >&2
  exit 2
fi
# 1. the student's folders: train/<Name>/*.jpg (other people), query/<Name>/*.jpg, gallery/<Name>/*.jpg
python3 - "$lfw/images" "$work" "${N_QUERY:-25}" "${N_TRAIN:-80}" <<'PY'
import random, shutil, sys
from pathlib import Path
src, work, n_query, n_train = Path(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
people = {p.name: sorted(p.glob("*.jpg")) for p in sorted(src.iterdir()) if p.is_dir()}
rng = random.Random(0)
many = sorted(n for n, f in people.items() if 4 <= len(f) <= 20)
exercise = rng.sample(many, n_query)
others = sorted(n for n, f in people.items() if 2 <= len(f) <= 20 and n not in exercise)
train = rng.sample(others, n_train)
for sub in ("train", "query", "gallery"):
    shutil.rmtree(work / sub, ignore_errors=True)
def put(sub, name, files):
    (work / sub / name).mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copyfile(f, work / sub / name / f.name)
for name in exercise:
    put("query", name, people[name][:1])
    put("gallery", name, people[name][1:])
for name in train:
    put("train", name, people[name])
print(f"{work}: query {n_query} photos, gallery {sum(len(people[n]) - 1 for n in exercise)} photos of the same "
      f"{n_query} people, train {sum(len(people[n]) for n in train)} photos of {n_train} other people")
PY
# 2. faces -> embeddings (labels.csv records each face box and how many faces were found)
for sub in train query gallery; do
  metricbench extract "$work/$sub" --out "$work/emb-$sub" --jobs 2
done
# 3. a competition made from the train identities only, to fit (and validate) the learned metric on
metricbench make-competition "$work/emb-train/embeddings.npy" --labels "$work/emb-train/labels.csv" \
  --out "$work/competition" --overwrite
# 4. the ranked submission: for each query photo, the 5 most likely people, best first
metricbench retrieve -m cosine-whitened --data "$work/competition" \
  -q "$work/emb-query/embeddings.npy" -g "$work/emb-gallery/embeddings.npy" \
  --query-labels "$work/emb-query/labels.csv" --gallery-labels "$work/emb-gallery/labels.csv" \
  --names --identities -k 5 --out "$work/submission.csv"
head -3 "$work/submission.csv"
