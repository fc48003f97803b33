"""The CLI's contract: exit codes, one-line errors, output paths checked first, no silent overwrite, help."""

import os
import re

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from metricbench.cli.main import app
from tests.conftest import assert_one_line_error, write_competition

runner = CliRunner()


@pytest.fixture
def comp(tmp_path):
    return write_competition(tmp_path / "c", n_train=120, n_cls=10, n_pairs=60)


def _score(comp, *args):
    return runner.invoke(app, ["score", "-m", "cosine", "--data", str(comp), "--val-pairs", "200", *args])


# -- exit codes and one-line errors -------------------------------------------------------------------

@pytest.mark.parametrize(
    "args,pattern",
    [
        (["score", "-m", "cosine-whitened", "-p", "shrinkage=abc"],
         r"parameter 'shrinkage' of cosine-whitened takes float in \[0, 1\] or \"auto\", got 'abc'"),
        (["score", "-m", "cosine-whitened", "-p", "n_components=abc"], r"parameter 'n_components' .* got 'abc'"),
        (["score", "-m", "cosine-whitened", "-p", "shrinkag=0.5"],
         r"unknown parameter 'shrinkag' for cosine-whitened \(did you mean shrinkage\?\); valid: holdout, "
         r"n_components, .*shrinkage"),
        (["score", "-m", "lda-cosine", "-p", "shrinkage=2"], r"shrinkage.* takes float in \[0, 1\]( or \"auto\")?, got '2'"),
        (["score", "-m", "plda", "-p", "within=sideways"], r"parameter 'within' of plda takes \{\"auto\", \"all\""),
        (["score", "--val-pairs", "0"], r"invalid value for --val-pairs"),
        (["score", "--holdout", "1.5"], r"holdout must be a fraction strictly between 0 and 1"),
        (["score", "--norm", "z-norm"], r"unknown score normalisation 'z-norm'; valid: s-norm, as-norm"),
        (["score", "--bogus"], r"No such option: --bogus"),
        (["metrics", "--kind", "foo"], r"unknown kind 'foo'; valid: distance, learned"),
        (["evaluate", "-m", "cosine", "--val-pairs", "0"], r"invalid value for --val-pairs"),
        (["evaluate", "-m", "cosine", "-p", "cosine:p=3"], r"unknown parameter 'p' for cosine; valid: none"),
        (["evaluate", "-m", "lda-cosine", "-p", "lda-cosine:n_components=abc"], r"n_components.*got 'abc'"),
        (["retrieve", "-q", "q.npy", "-g", "g.npy", "-m", "minkowski", "-p", "p=abc"], r"'p' of minkowski takes float"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(args, pattern, tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)  # nothing may be written, not even a submissions/ folder
    try:
        res = runner.invoke(app, args)
    finally:
        os.chdir(cwd)
    assert res.exit_code == 2, res.output
    assert_one_line_error(res, pattern)
    assert list(tmp_path.iterdir()) == []


def test_metrics_kind_filters_and_aliases_listed():
    res = runner.invoke(app, ["metrics", "--kind", "learned"])
    assert res.exit_code == 0
    names = [ln.split()[0] for ln in res.stdout.splitlines()]
    assert "within-mahalanobis" in names and "cosine" not in names and "mahalanobis" not in names
    res = runner.invoke(app, ["metrics", "--kind", "distance"])
    assert "(also l2)" in res.stdout and "within-mahalanobis" not in res.stdout


def test_alias_resolves_in_the_cli(comp, tmp_path):
    a, b = tmp_path / "a.csv", tmp_path / "b.csv"
    r1 = runner.invoke(app, ["score", "-m", "l2", "--data", str(comp), "--no-validate", "--out", str(a)])
    r2 = runner.invoke(app, ["score", "-m", "euclidean", "--data", str(comp), "--no-validate", "--out", str(b)])
    assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
    assert a.read_bytes() == b.read_bytes()


def test_unexpected_error_is_exit_1_one_line_and_debug_shows_traceback(comp, tmp_path, monkeypatch):
    import metricbench.workflows as wf

    def boom(*a, **k):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(wf, "score_competition", boom)
    res = _score(comp, "--out", str(tmp_path / "s.csv"))
    assert res.exit_code == 1
    assert_one_line_error(res, r"unexpected ZeroDivisionError: division by zero \(run again with --debug")
    res = runner.invoke(app, ["--debug", "score", "-m", "cosine", "--data", str(comp), "--out", str(tmp_path / "s.csv")])
    assert res.exit_code == 1 and "Traceback" in res.output and "ZeroDivisionError" in res.output


def test_ctrl_c_is_exit_130_one_line(comp, tmp_path, monkeypatch):
    import metricbench.workflows as wf

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(wf, "score_competition", interrupted)
    res = _score(comp, "--out", str(tmp_path / "s.csv"))
    assert res.exit_code == 130
    assert_one_line_error(res, r"interrupted")
    assert not (tmp_path / "s.csv").exists()


# -- issue 10 item 6: every output path is checked before any work ------------------------------------

def test_output_is_a_directory_fails_before_work(comp, tmp_path, monkeypatch):
    import metricbench.workflows.data as data

    def never(*a, **k):  # the data must not even be read
        raise AssertionError("work started before the output path was checked")

    monkeypatch.setattr(data, "open_competition", never)
    res = _score(comp, "--out", str(tmp_path))
    assert res.exit_code == 2
    assert_one_line_error(res, rf"{re.escape(str(tmp_path))}: is a directory; give a file path")
    blocker = tmp_path / "afile"
    blocker.write_text("x")
    res = _score(comp, "--out", str(blocker / "sub" / "s.csv"))
    assert res.exit_code == 2
    assert_one_line_error(res, r"cannot create folder .*afile/sub: .*afile is a file, not a folder")
    res = runner.invoke(app, ["evaluate", "-m", "cosine", "--data", str(comp), "--out", str(blocker)])
    assert_one_line_error(res, r"afile: is a file; give a folder path")
    np.save(tmp_path / "q.npy", np.ones((3, 4), np.float32))
    res = runner.invoke(app, ["retrieve", "-q", str(tmp_path / "q.npy"), "-g", str(tmp_path / "q.npy"),
                              "--out", str(tmp_path)])
    assert_one_line_error(res, r"is a directory; give a file path")
    res = _score(comp, "--out", str(tmp_path / "s.csv"), "--save-metric", str(tmp_path))
    assert_one_line_error(res, r"is a directory")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="permissions do not bind root")
def test_unwritable_folder_fails_before_work(comp, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        res = _score(comp, "--out", str(locked / "s.csv"))
        assert res.exit_code == 2
        assert_one_line_error(res, r"cannot write in .*locked \(permission denied\)")
        res = _score(comp, "--out", str(locked / "deeper" / "s.csv"))
        assert_one_line_error(res, r"cannot create folders in .*locked \(permission denied\)")
    finally:
        locked.chmod(0o755)


def test_unwritable_folder_fails_before_work_simulated(comp, tmp_path, monkeypatch):
    """The same check where permissions cannot be taken away (root): the OS answers 'no write access'."""
    import metricbench.workflows.outputs as outputs

    locked = tmp_path / "locked"
    locked.mkdir()
    real = os.access
    monkeypatch.setattr(outputs.os, "access", lambda p, mode: False if (str(p) == str(locked) and mode & os.W_OK) else real(p, mode))
    res = _score(comp, "--out", str(locked / "s.csv"))
    assert res.exit_code == 2
    assert_one_line_error(res, r"cannot write in .*locked \(permission denied\)")
    res = runner.invoke(app, ["evaluate", "-m", "cosine", "--data", str(comp), "--out", str(locked)])
    assert_one_line_error(res, r"locked: cannot write in this folder \(permission denied\)")
    assert list(locked.iterdir()) == []


# -- issue 10 item 7: a run never silently replaces an earlier submission -----------------------------

def test_default_name_records_settings_and_existing_files_are_kept(comp, tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        base = ["score", "-m", "minkowski", "--data", str(comp), "--no-validate"]
        r1 = runner.invoke(app, base)
        r2 = runner.invoke(app, base + ["-p", "p=3"])
        assert r1.exit_code == 0 and r2.exit_code == 0, r1.output + r2.output
        first = tmp_path / "submissions" / "c_minkowski.csv"
        second = tmp_path / "submissions" / "c_minkowski_p=3.csv"
        assert first.is_file() and second.is_file()
        assert f"submission  {first.relative_to(tmp_path)}" in r1.stdout
        assert f"submission  {second.relative_to(tmp_path)}" in r2.stdout
        assert first.read_bytes() != second.read_bytes()
        # the same settings again: the earlier file is kept, byte for byte, and the user is told how to replace it
        before = first.read_bytes()
        r3 = runner.invoke(app, base + ["--similarity", "--out", str(first)])
        assert r3.exit_code == 2
        assert_one_line_error(r3, r"c_minkowski\.csv: exists .* kept; pass --force to replace it, or --out")
        assert first.read_bytes() == before
        r4 = runner.invoke(app, base + ["--similarity", "--out", str(first), "--force"])
        assert r4.exit_code == 0, r4.output
        np.testing.assert_allclose(pd.read_csv(first).Predicted, -pd.read_csv(io_bytes(before)).Predicted)
    finally:
        os.chdir(cwd)


def io_bytes(b):
    import io

    return io.BytesIO(b)


def test_evaluate_keeps_an_earlier_run(comp, tmp_path):
    run = tmp_path / "run"
    args = ["evaluate", "-m", "cosine", "--data", str(comp), "--out", str(run), "--val-pairs", "100", "--n-boot", "10",
            "--no-plot"]
    assert runner.invoke(app, args).exit_code == 0
    before = (run / "evaluation.json").read_bytes()
    res = runner.invoke(app, args)
    assert_one_line_error(res, r"holds an earlier run \(evaluation\.json\), which was kept; pass --force")
    assert (run / "evaluation.json").read_bytes() == before
    assert runner.invoke(app, args + ["--force"]).exit_code == 0


# -- help (issue 13) ----------------------------------------------------------------------------------

@pytest.mark.parametrize("command", [c.name for c in app.registered_commands])
def test_help_is_clean_with_examples(command):
    res = runner.invoke(app, [command, "-h"], env={"COLUMNS": "140"})
    assert res.exit_code == 0, res.output
    assert "<bool>" not in res.output
    assert "Example" in res.output and f"metricbench {command}" in res.output
    assert res.output == runner.invoke(app, [command, "--help"], env={"COLUMNS": "140"}).output


def test_retrieve_help_keeps_brackets_and_version():
    res = runner.invoke(app, ["retrieve", "-h"], env={"COLUMNS": "160"})
    assert "{query: [gallery, ...]}" in res.output
    res = runner.invoke(app, ["--version"])
    from metricbench import __version__

    assert res.exit_code == 0 and res.stdout.strip() == f"metricbench {__version__}"
    res = runner.invoke(app, ["-h"])
    assert res.exit_code == 0 and "<bool>" not in res.output


def test_score_prints_what_each_figure_means(comp, tmp_path):
    res = _score(comp, "--out", str(tmp_path / "s.csv"))
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    val = next(ln for ln in lines if ln.startswith("validation"))
    test = next(ln for ln in lines if ln.startswith("test"))
    assert "held-out identities" in val and "train identities" in val
    assert "all 120 train rows" in test and "solution.csv" in test


def test_auto_is_a_valid_value_where_the_search_chooses():
    """``-p shrinkage=auto`` names the search's choice; numbers are still range-checked."""
    from metricbench.params import coerce
    from metricbench.registry import param_specs

    specs = param_specs("cosine-whitened")
    assert coerce(specs["shrinkage"], "auto", "cosine-whitened") == "auto"
    assert coerce(specs["n_components"], "auto", "cosine-whitened") == "auto"
    assert coerce(specs["shrinkage"], "0.5", "cosine-whitened") == 0.5
    with pytest.raises(Exception, match=r"outside \[0, 1\]"):
        coerce(specs["shrinkage"], "2", "cosine-whitened")


# -- a data error is the whole of stderr: no stage line above it ----------------------------------------

@pytest.fixture(scope="module")
def broken(tmp_path_factory):
    """Files of every command, each with one bad CSV line (line 3 of the train labels has a third
    field, and so on)."""
    root = tmp_path_factory.mktemp("broken")
    bad = write_competition(root / "bad")
    lines = (bad / "train_labels.csv").read_text().split("\n")
    lines[2] += ",x"
    (bad / "train_labels.csv").write_text("\n".join(lines))
    np.save(root / "q.npy", np.random.default_rng(0).standard_normal((10, 4)).astype(np.float32))
    (root / "q.csv").write_text("index,class\n0,1\n1,x,y\n")
    (root / "imgs").mkdir()
    (root / "imgs.csv").write_text("path,class\na.png,1,2\n")
    (root / "pairs.csv").write_text("fold,name1,num1,name2,num2,same\n1,a,1,b\n")
    return root


_BROKEN = {
    "score": (["score", "-m", "cosine", "--data", "{r}/bad", "--out", "{r}/o.csv"], r"train_labels\.csv: line 3"),
    "score-learned": (["score", "-m", "lda-cosine", "--data", "{r}/bad", "--out", "{r}/o.csv"],
                      r"train_labels\.csv: line 3"),
    "evaluate": (["evaluate", "-m", "cosine", "--data", "{r}/bad", "--out", "{r}/ev", "--no-plot"],
                 r"train_labels\.csv: line 3"),
    "retrieve": (["retrieve", "-m", "cosine", "-q", "{r}/q.npy", "-g", "{r}/q.npy", "--query-labels", "{r}/q.csv",
                  "--gallery-labels", "{r}/q.csv", "--out", "{r}/r.csv"], r"q\.csv: line 3"),
    "make-competition": (["make-competition", "{r}/q.npy", "--labels", "{r}/q.csv", "--out", "{r}/mc"],
                         r"q\.csv: line 3"),
    "synth": (["synth", "--like", "{r}/bad", "--out", "{r}/sy"], r"train_labels\.csv: line 3"),
    "auto": (["auto", "--data", "{r}/bad", "--budget", "30s", "--out", "{r}/au.csv"], r"train_labels\.csv: line 3"),
    "extract": (["extract", "{r}/imgs", "--labels", "{r}/imgs.csv", "--out", "{r}/ex"], r"imgs\.csv: line 2"),
    "lfw": (["lfw", "{r}/pairs.csv", "-e", "{r}/q.npy", "-l", "{r}/q.csv"], r"q\.csv: line 1: missing column 'path'"),
}


@pytest.mark.parametrize("command", sorted(_BROKEN))
def test_a_data_error_is_one_line_on_stderr(broken, command):
    """Every command that reads user files reports a bad line as its only line on stderr: a step
    that failed prints no "... failed" stage line above the error (issue 11 round: the user saw two)."""
    args, pattern = _BROKEN[command]
    before = sorted(p.name for p in broken.iterdir())
    res = runner.invoke(app, [a.format(r=broken) for a in args])
    assert res.exit_code == 2, res.output
    assert_one_line_error(res, pattern)
    assert res.stdout == ""
    assert sorted(p.name for p in broken.iterdir()) == before, "a failed command left output behind"


def test_a_step_prints_done_when_it_finishes_and_nothing_when_it_fails(capsys):
    from metricbench.cli.common import RichProgress, Stage
    from metricbench.workflows.progress import step

    with RichProgress() as hook:
        with step(hook, "loading"):
            pass
        with pytest.raises(ValueError), step(hook, "fitting"):
            raise ValueError("bad")
    with Stage("writing"):
        pass
    with pytest.raises(ValueError), Stage("checking"):
        raise ValueError("bad")
    err = capsys.readouterr().err.splitlines()
    assert [ln.split(" (")[0] for ln in err] == ["loading ... done", "writing ... done"], err


def test_a_backend_that_cannot_serve_the_metric_fails_before_loading(tmp_path, monkeypatch):
    """``retrieve --backend faiss`` with a distance faiss does not serve (or a learned metric that
    is not a linear map) fails before the files are read and before any fit."""
    import importlib

    pytest.importorskip("faiss")
    wr = importlib.import_module("metricbench.workflows.retrieve")  # the module (the package exports the function)

    def no_loading(*a, **k):
        raise AssertionError("the embeddings were read before the backend was checked")

    monkeypatch.setattr(wr, "load_embeddings", no_loading)
    monkeypatch.setattr(wr, "open_competition", no_loading)
    for metric, words in (("canberra", "not 'canberra'"), ("plda", "fixed distances and linear learned metrics only")):
        res = runner.invoke(app, ["retrieve", "-m", metric, "-q", str(tmp_path / "q.npy"), "-g", str(tmp_path / "g.npy"),
                                  "--data", str(tmp_path), "--out", str(tmp_path / "t.csv"), "--backend", "faiss"])
        assert res.exit_code == 2, res.output
        assert_one_line_error(res, re.escape(words))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("command", sorted(c.name for c in app.registered_commands
                                           if "seed" in __import__("inspect").signature(c.callback).parameters))
def test_a_negative_seed_is_refused_by_every_command(command, tmp_path):
    """Every --seed is a whole number >= 0 (numpy's seeds): -1 is exit 2, one line naming --seed."""
    res = CliRunner().invoke(app, [command, "--seed", "-1"])
    assert res.exit_code == 2, res.output
    assert_one_line_error(res, "--seed.*greater than or equal to 0")
    assert list(tmp_path.iterdir()) == []


def test_a_missing_required_option_is_named():
    res = CliRunner().invoke(app, ["retrieve", "-m", "cosine"])
    assert res.exit_code == 2
    assert_one_line_error(res, "Missing option '--query'")
