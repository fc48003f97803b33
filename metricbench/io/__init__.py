"""Loading competition files (memory-mapped, validated) and writing submissions atomically."""

from metricbench.io.atomic import atomic_path, atomic_write_text
from metricbench.io.competition import Competition, load_competition
from metricbench.io.loaders import load_embeddings, load_labels, load_pairs, load_solution
from metricbench.io.submission import write_submission

__all__ = [
    "Competition",
    "atomic_path",
    "atomic_write_text",
    "load_competition",
    "load_embeddings",
    "load_labels",
    "load_pairs",
    "load_solution",
    "write_submission",
]
