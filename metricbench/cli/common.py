"""Shared CLI plumbing: the error contract, help rendering, rich output and progress.

The error contract (every command):

* exit 0 on success; 2 for bad input or usage (a :class:`~metricbench.errors.InputError`, an unknown
  option, a bad value); 1 for anything unexpected; 130 when interrupted (Ctrl-C);
* one line on stderr, ``error: ...``, naming the file, line or parameter and what to do; no
  traceback unless ``--debug`` is given (anywhere on the command line) or ``METRICBENCH_DEBUG=1``.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
import traceback
from typing import Annotated, Optional

import typer
from typer.core import TyperCommand, TyperGroup

try:  # typer >= 0.20 carries its own copy of click; its exceptions are the ones raised
    from typer._click import exceptions as _cx
except ImportError:  # pragma: no cover - older typer on the real click
    from click import exceptions as _cx

from metricbench.engines import get_engine
from metricbench.errors import InputError, MetricbenchError, OutputExistsError
from metricbench.workflows.data import default_data_dir  # noqa: F401  (re-exported for the commands)
from metricbench.workflows.progress import ProgressHook

#: exit codes
EXIT_OK, EXIT_UNEXPECTED, EXIT_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130

#: typer settings shared by every command: -h as well as --help
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 120}

# -- options several commands share (one declaration each) -------------------------------------------
ParamOption = Annotated[
    Optional[list[str]],
    typer.Option("--param", "-p", metavar="KEY=VALUE", help="Metric parameter key=value, typed; repeatable."),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print the summary as JSON on stdout.")]
EngineOption = Annotated[str, typer.Option(help="Where to compute: local, or dask (pip install 'metricbench[dask]').")]
SchedulerOption = Annotated[
    Optional[str],
    typer.Option(help="With --engine dask: scheduler address tcp://HOST:8786 (default: a local cluster)."),
]


@contextlib.contextmanager
def engine_from_options(engine: str, scheduler: str | None):
    """The engine ``--engine`` / ``--scheduler`` name (None for the default in-process path), closed
    when the block ends."""
    eng = get_engine(engine, scheduler=scheduler) if (engine != "local" or scheduler) else None
    try:
        yield eng
    except BaseException:  # an error or Ctrl-C: close without the engine's own noise
        if eng is not None:
            eng.close(quiet=True)
        raise
    if eng is not None:
        eng.close()


def reports_errors(func):
    """Kept for commands written before the group took over: the ``metricbench`` group now maps every
    exception of every command (see the module docstring), so this returns ``func`` unchanged."""
    return func


class UserError(Exception):
    """A CLI-level bad input (a flag combination); reported like an InputError."""


def fail(message: str, code: int = EXIT_INPUT):
    """Stop the command with ``error: message`` (one line) and exit ``code``."""
    raise _Stop(message, code)


class _Stop(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def _one_line(text: str) -> str:
    lines = [ln.strip() for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[0] if lines else ""


#: ``{python name: "--flag"}`` of the command running now (set by :class:`MetricbenchCommand`)
_active_options: dict[str, str] = {}


def _options_of(command) -> dict[str, str]:
    """``{parameter name: its long flag}`` of a click command's options."""
    out = {}
    for p in getattr(command, "params", ()):
        flags = [o for o in getattr(p, "opts", ()) if o.startswith("--")]
        if p.name and flags and p.param_type_name == "option":
            out[p.name] = flags[0]
    return out


def alias_options(**library_to_option: str) -> None:
    """Let an error about library argument ``key`` name the running command's option ``value``
    (``alias_options(model_path="onnx_model")``: both are Python names)."""
    for lib, opt in library_to_option.items():
        if opt in _active_options:
            _active_options[lib] = _active_options[opt]


def _hint(exc: BaseException, options: dict[str, str] | None = None) -> str:
    """What the CLI adds to a library message: the flag that changes the outcome.

    The library names its own arguments (``exc.param``, see :class:`~metricbench.errors.InputError`),
    never a flag; this maps the argument to the running command's option of the same name (an
    ``overwrite`` argument to ``--force`` where the command calls it that).
    """
    options = _active_options if options is None else options
    if isinstance(exc, OutputExistsError):
        flag = options.get("force") or options.get("overwrite") or "--force"
        out = options.get("out")
        return f"; pass {flag} to replace it" + (f", or {out} for another path" if out else "")
    param = getattr(exc, "param", None)
    flag = options.get(param) if param else None
    return f" ({flag})" if flag else ""


def _debugging(args: list[str]) -> bool:
    debug = os.environ.get("METRICBENCH_DEBUG", "") not in ("", "0")
    while "--debug" in args:
        args.remove("--debug")
        debug = True
    return debug


def _report(message: str, code: int) -> int:
    typer.echo(f"error: {message}", err=True)
    return code


def _unwrap(text: str) -> str:
    """A docstring's paragraphs as single lines, so the help reflows them to the terminal (rich markup
    keeps a source line break after the first paragraph: "no candidate was / chosen on"). A line that
    starts indented, and every line of an ``Example`` paragraph, keeps its own line."""
    paragraphs = []
    for para in text.split("\n\n"):
        lines = para.split("\n")
        if lines[0].lstrip().lower().startswith("example"):
            paragraphs.append(para)
            continue
        out = [lines[0]]
        for line in lines[1:]:
            if line[:1].isspace() or not line.strip() or not out[-1].strip():
                out.append(line)
            else:
                out[-1] = out[-1].rstrip() + " " + line.strip()
        paragraphs.append("\n".join(out))
    return "\n\n".join(paragraphs)


class _CleanHelp:
    """Help that renders flags without a ``<bool>`` type and keeps literal brackets."""

    def format_help(self, ctx, formatter):
        from rich.markup import escape

        if not getattr(self, "_escaped", False):
            self._escaped = True
            if self.help:
                self.help = escape(_unwrap(self.help))
            for p in self.params:
                if getattr(p, "help", None):
                    p.help = escape(p.help)
        return super().format_help(ctx, formatter)

    def collect_usage_pieces(self, ctx):
        # typer writes a required argument as "{pairs}"; the usage line says PAIRS (EMBEDDINGS...)
        return [re.sub(r"^\{(.*)\}((?:\.\.\.)?)$", r"\1\2", p) for p in super().collect_usage_pieces(ctx)]

    def get_params(self, ctx):
        params = super().get_params(ctx)
        for p in params:
            if getattr(p, "is_flag", False) and p.metavar is None:
                p.metavar = ""  # a flag takes no value: no "<bool>" in the help
            elif p.param_type_name == "argument" and p.metavar is None and p.name:
                p.metavar = p.name.upper()  # PAIRS, not typer's "{pairs}"
        return params


class MetricbenchCommand(_CleanHelp, TyperCommand):
    """A typer command with clean help (see :class:`_CleanHelp`); its options are what an error's
    hint names (see :func:`_hint`)."""

    def invoke(self, ctx):
        _active_options.clear()
        _active_options.update(_options_of(self))
        return super().invoke(ctx)


def _raise_interrupt(signum, frame):
    raise KeyboardInterrupt(f"signal {signum}")


def _sigterm_is_an_interrupt():
    """SIGTERM (``kill``, a scheduler stopping a job) stops a command as Ctrl-C does: one line, exit
    130, no half-written output. Returns the previous handler (None off the main thread)."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _raise_interrupt)


class _Interrupted(Exception):
    """Ctrl-C inside a command (typer would turn it into a silent exit 130)."""


class MetricbenchGroup(_CleanHelp, TyperGroup):
    """The ``metricbench`` group: every command runs under the error contract."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as e:
            raise _Interrupted() from e

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        debug = _debugging(args)
        old_term = _sigterm_is_an_interrupt()
        try:
            code = self._run(args, prog_name or "metricbench", complete_var, debug, **extra)
        finally:
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
        if standalone_mode:
            sys.exit(code)
        return code

    def _run(self, args, prog_name, complete_var, debug, **extra) -> int:
        try:
            rv = super().main(args=args, prog_name=prog_name, complete_var=complete_var, standalone_mode=False,
                              **extra)
            return rv if isinstance(rv, int) and not isinstance(rv, bool) else EXIT_OK
        except _Stop as e:
            return _report(str(e), e.code)
        except _cx.NoArgsIsHelpError:  # typer has printed the help
            return EXIT_OK
        except _cx.MissingParameter as e:  # a BadParameter without a message of its own
            where = f" (run '{e.ctx.command_path} -h' for the options)" if e.ctx is not None else ""
            return _report(_one_line(e.format_message()) + where, EXIT_INPUT)
        except _cx.BadParameter as e:
            name = e.param.opts[0] if (e.param is not None and getattr(e.param, "opts", None)) else e.param_hint
            where = f" (run '{e.ctx.command_path} -h' for the options)" if e.ctx is not None else ""
            what = f"invalid value for {name}: " if name else ""
            return _report(what + _one_line(e.message) + where, EXIT_INPUT)
        except _cx.UsageError as e:
            where = f" (run '{e.ctx.command_path} -h' for the options)" if e.ctx is not None else ""
            return _report(_one_line(e.format_message()) + where, EXIT_INPUT)
        except _cx.ClickException as e:
            return _report(_one_line(e.format_message()), e.exit_code or EXIT_INPUT)
        except typer.Exit as e:
            return e.exit_code
        except (_Interrupted, KeyboardInterrupt, typer.Abort):
            if debug:
                traceback.print_exc()
            return _report("interrupted; no output file was left half-written (writes are atomic)",
                           EXIT_INTERRUPTED)
        except (InputError, UserError) as e:
            if debug:
                traceback.print_exc()
            return _report(_one_line(str(e)) + _hint(e), EXIT_INPUT)
        except MetricbenchError as e:
            if debug:
                traceback.print_exc()
            return _report(_one_line(str(e)) or type(e).__name__, EXIT_UNEXPECTED)
        except MemoryError:
            if debug:
                traceback.print_exc()
            return _report("out of memory; lower the working memory or choose smaller settings", EXIT_UNEXPECTED)
        except Exception as e:  # a bug: one line, and the traceback with --debug
            if debug:
                traceback.print_exc()
            msg = _one_line(str(e))
            return _report(
                f"unexpected {type(e).__name__}{': ' + msg if msg else ''} "
                "(run again with --debug for the traceback, and please report it)",
                EXIT_UNEXPECTED,
            )


# -- rich output ------------------------------------------------------------------------------------

def console(stderr: bool = False):
    """A rich console on stdout (or stderr) that does not wrap or colour when not on a terminal."""
    from rich.console import Console

    c = Console(stderr=stderr, highlight=False, soft_wrap=False)
    if not c.is_terminal:
        c = Console(stderr=stderr, highlight=False, soft_wrap=False, width=max(160, c.width), no_color=True)
    return c


def table(*columns, title: str | None = None, **kw):
    """A rich table with plain column headers (``"name>"`` right-aligns a column)."""
    from rich import box
    from rich.table import Table

    t = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False, pad_edge=False, **kw)
    for c in columns:
        right = c.endswith(">")
        t.add_column(c.rstrip(">"), justify="right" if right else "left", overflow="fold")
    return t


def print_table(t) -> None:
    """Print a rich table on stdout without trailing blanks (plain text off a terminal)."""
    con = console()
    if con.is_terminal:
        con.print(t)
        return
    with con.capture() as cap:
        con.print(t)
    typer.echo("\n".join(line.rstrip() for line in cap.get().splitlines()))


class RichProgress(ProgressHook):
    """Workflow steps as rich progress bars on stderr (a spinner when a step has no size), and one
    ``done`` line per finished step. Off a terminal only the ``done`` lines are printed."""

    def __init__(self, quiet: bool = False):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

        self.quiet = quiet
        self.console = console(stderr=True)
        self.progress = Progress(
            SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=self.console, transient=True,
            disable=quiet or not self.console.is_terminal,
        )
        self._task = None
        self._description = ""

    def __enter__(self):
        self.progress.start()
        return self

    def __exit__(self, *exc):
        self.progress.stop()
        return False

    def start(self, description: str, total: int | None = None) -> None:
        self._description = description
        self._task = self.progress.add_task(description, total=total)

    def advance(self, amount: int = 1) -> None:
        if self._task is not None:
            self.progress.advance(self._task, amount)

    def finish(self, seconds: float, ok: bool = True) -> None:
        """A finished step prints ``description ... done (s)``; a failed one prints nothing, since
        the ``error:`` line that follows is the whole report (one line on stderr)."""
        if self._task is not None:
            self.progress.remove_task(self._task)
            self._task = None
        if ok and not self.quiet:
            self.console.print(f"{self._description} ... done ({seconds:.1f} s)", markup=False, highlight=False)


class Stage:
    """Context manager running a block as one step of a :class:`RichProgress` (for commands whose
    library call takes no progress hook): a spinner on a terminal, ``label ... done (s)`` once it
    has finished, and nothing when it fails (the ``error:`` line is the whole report)."""

    def __init__(self, label: str, quiet: bool = False):
        self.label = label
        self.quiet = quiet
        self.seconds = 0.0

    def __enter__(self):
        self._hook = RichProgress(quiet=self.quiet).__enter__()
        self.t0 = time.perf_counter()
        self._hook.start(self.label)
        return self

    def __exit__(self, exc_type, exc, tb):
        self.seconds = time.perf_counter() - self.t0
        try:
            self._hook.finish(self.seconds, ok=exc_type is None)
        finally:
            self._hook.__exit__(exc_type, exc, tb)
        return False


def info(msg: str) -> None:
    typer.echo(msg, err=True)


def report_competition(out, manifest: dict) -> None:
    """The one line ``make-competition`` and ``synth`` print about the directory they wrote."""
    m = manifest
    info(
        f"wrote {out}: train {m['n_train_rows']} x {m['dim']} / {m['n_train_identities']} identities, "
        f"test {m['n_test_rows']} rows / {m['n_test_identities']} identities, "
        f"{m['n_test_pairs']} pairs ({m['n_same_pairs']} same), seed {m['seed']}"
    )


def fmt(x, digits: int = 4) -> str:
    """A number for a table: fixed digits, ``n/a`` for None / NaN."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "n/a"
    return f"{x:.{digits}f}"
