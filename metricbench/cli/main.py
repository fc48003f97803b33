"""The ``metricbench`` command line: thin commands over the library."""

from __future__ import annotations

import typer

from metricbench.cli import auto, evaluate, extract, lfw, make_competition, metrics, retrieve, score
from metricbench.cli import synth

app = typer.Typer(
    name="metricbench",
    help="Distances, learned metrics and honest evaluation for face-verification embeddings.",
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

for _module in (score, evaluate, retrieve, metrics, make_competition, extract, lfw, auto, synth):
    _module.register(app)


def main() -> None:
    app()


if __name__ == "__main__":  # python -m metricbench.cli.main
    main()
