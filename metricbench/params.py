"""The one typed parameter parser: ``key=value`` text -> typed keyword arguments.

Every command that takes metric or backend parameters (``score``, ``evaluate``,
``retrieve``, ``extract``, ``auto``) parses them here. A parameter's type comes
from the estimator itself, in this order:

1. the numpydoc type line of its class docstring (``shrinkage : float in [0, 1] or "auto"``),
   walking the class's bases;
2. its annotation (``holdout: float = 0.2``);
3. the type of its default (``n_pairs=20000`` is an int, ``grid=(8, 16)`` a list).

A value that fits none of the allowed types raises :class:`~metricbench.errors.ParameterError`
with one line naming the parameter, what it takes and what was given.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from metricbench.errors import ParameterError

_TRUE = ("true", "yes", "on")
_FALSE = ("false", "no", "off")
_NONE = ("none", "null")

#: numpydoc words -> kinds
_WORDS = {
    "int": "int", "integer": "int",
    "float": "float", "number": "float", "real": "float",
    "bool": "bool", "boolean": "bool",
    "str": "str", "string": "str",
    "dict": "dict", "mapping": "dict",
    "list": "list", "sequence": "list", "tuple": "list",
    "array-like": "array", "ndarray": "array", "array": "array",
}


@dataclass(frozen=True)
class ParamSpec:
    """What one parameter accepts.

    Attributes
    ----------
    name : str
    kinds : frozenset of str
        Among ``int``, ``float``, ``bool``, ``str``, ``list``, ``dict``, ``array``; empty means
        anything (the value is read as a number, boolean, ``none`` or text).
    literals : tuple of str
        Accepted words (``"auto"``, the members of ``{"lda", "pca"}``).
    nullable : bool
        ``none`` is accepted.
    low, high : float or None
        Closed range of a number (from ``in [a, b]`` in the type line).
    doc : str
        The type as documented, quoted in error messages.
    default : object
    """

    name: str
    kinds: frozenset = frozenset()
    literals: tuple = ()
    nullable: bool = False
    low: float | None = None
    high: float | None = None
    doc: str = ""
    default: object = None
    extra: dict = field(default_factory=dict, compare=False)

    def describe(self) -> str:
        if self.doc:
            return self.doc
        parts = sorted(self.kinds) + [repr(x) for x in self.literals] + (["None"] if self.nullable else [])
        return " or ".join(parts) or "any value"


def spec_from_doc(name: str, doc: str, default=inspect.Parameter.empty) -> ParamSpec | None:
    """Read a numpydoc type line; ``None`` when it names no type at all."""
    text = doc.strip()
    literals = tuple(dict.fromkeys(re.findall(r"[\"']([^\"']+)[\"']", text)))
    bare = re.sub(r"[\"'][^\"']*[\"']", " ", text)
    bare = re.sub(r"\bof shape\s*\([^)]*\)", " ", bare)
    low = high = None
    rng = re.search(r"\bin\s*\[\s*([-+0-9.e]+)\s*,\s*([-+0-9.e]+)\s*\]", bare)
    if rng:
        low, high = float(rng.group(1)), float(rng.group(2))
        bare = bare.replace(rng.group(0), " ")
    words = re.findall(r"[A-Za-z][A-Za-z_-]*", bare)
    kinds = set()
    nullable = False
    for w in words:
        lw = w.lower()
        if lw == "none":
            nullable = True
        elif lw in _WORDS:
            kinds.add(_WORDS[lw])
        elif lw == "optional":
            nullable = True
    if "(" in bare and ")" in bare and "str" in kinds and not rng:  # "(str, str)": a pair
        kinds = {"list"}
    if not kinds and not literals and not nullable:
        return None
    if default is None:
        nullable = True
    return ParamSpec(name, frozenset(kinds), literals, nullable, low, high, text,
                     None if default is inspect.Parameter.empty else default)


def spec_from_default(name: str, default, annotation=inspect.Parameter.empty) -> ParamSpec:
    """The type of a parameter from its annotation, else its default."""
    if isinstance(annotation, str) and annotation in _WORDS:
        kinds = {_WORDS[annotation]}
        if kinds == {"float"}:
            kinds.add("int")
        return ParamSpec(name, frozenset(kinds), nullable=default is None, default=default)
    if default is inspect.Parameter.empty or default is None:
        return ParamSpec(name, frozenset(), nullable=True, default=None)
    if isinstance(default, bool):
        return ParamSpec(name, frozenset({"bool"}), default=default)
    if isinstance(default, int):
        return ParamSpec(name, frozenset({"int"}), default=default)
    if isinstance(default, float):
        return ParamSpec(name, frozenset({"float"}), default=default)
    if isinstance(default, (tuple, list)):
        return ParamSpec(name, frozenset({"list"}), default=default)
    if isinstance(default, dict):
        return ParamSpec(name, frozenset({"dict"}), default=default)
    if isinstance(default, str):
        return ParamSpec(name, frozenset({"str"}), default=default)
    return ParamSpec(name, frozenset(), nullable=True, default=default)


def documented_types(cls) -> dict[str, str]:
    """``{parameter: type line}`` from the numpydoc Parameters sections of ``cls`` and its bases."""
    out: dict[str, str] = {}
    for klass in reversed(inspect.getmro(cls)):
        doc = inspect.cleandoc(klass.__dict__.get("__doc__") or "")
        m = re.search(r"^Parameters\n-+\n(.*?)(?=^\S[^\n]*\n-{3,}\n|\Z)", doc, re.S | re.M)
        if not m:
            continue
        for names, typ in re.findall(r"^(\*{0,2}\w[\w, ]*?) : ([^\n]*)$", m.group(1), re.M):
            for nm in names.split(","):
                out[nm.strip().lstrip("*")] = typ.strip()
    return out


def estimator_specs(cls, skip=("self", "params")) -> dict[str, ParamSpec]:
    """Typed specs of the ``__init__`` parameters of ``cls``."""
    docs = documented_types(cls)
    out = {}
    for p in inspect.signature(cls.__init__).parameters.values():
        if p.name in skip or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        spec = None
        if p.name in docs:
            spec = spec_from_doc(p.name, docs[p.name], p.default)
        if spec is None:
            spec = spec_from_default(p.name, p.default, p.annotation)
        out[p.name] = spec
    return out


def _number(text: str, kind: str):
    if kind == "int":
        try:
            return int(text)
        except ValueError:
            f = float(text)  # "64.0" is an int; "0.5" is not
            if f.is_integer():
                return int(f)
            raise
    return float(text)


def _scalar(text: str):
    low = text.strip().lower()
    if low[:1] in ("[", "{"):
        try:
            return json.loads(text)
        except ValueError:
            pass
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    if low in _NONE:
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text


class _Bad(Exception):
    pass


def coerce(spec: ParamSpec, text, owner: str = "") -> object:
    """Turn the text ``text`` into a value ``spec`` accepts (non-text values pass through).

    Raises
    ------
    ParameterError
        The value fits none of the parameter's types; the message names the parameter,
        the documented type and the value.
    """
    if not isinstance(text, str):
        return text
    raw = text.strip()
    low = raw.lower()
    where = f" of {owner}" if owner else ""

    def bad(extra: str = ""):
        return ParameterError(
            f"parameter {spec.name!r}{where} takes {spec.describe()}, got {raw!r}{extra}"
        )

    if spec.nullable and low in _NONE:
        return None
    if raw in spec.literals:
        return raw
    kinds = spec.kinds
    if not kinds and not spec.literals:
        return _scalar(raw)
    if "bool" in kinds:
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    for kind in ("int", "float"):
        if kind in kinds:
            try:
                v = _number(raw, kind)
            except ValueError:
                continue
            if isinstance(v, float) and math.isnan(v):
                raise bad()
            if (spec.low is not None and v < spec.low) or (spec.high is not None and v > spec.high):
                raise bad(f" (outside [{spec.low:g}, {spec.high:g}])")
            return v
    if "array" in kinds and raw.endswith(".npy"):
        path = Path(raw)
        if not path.is_file():
            raise ParameterError(f"parameter {spec.name!r}{where}: {raw}: file not found")
        return np.load(path, allow_pickle=False)
    if "dict" in kinds:
        try:
            value = json.loads(raw)
        except ValueError:
            value = None
        if isinstance(value, dict):
            return value
    if "list" in kinds and ("," in raw or not ({"str", "int", "float"} & kinds)):
        items = [x.strip() for x in raw.replace(";", ",").split(",") if x.strip()]
        if not items:
            raise bad()
        return tuple(_scalar(x) for x in items)
    if "str" in kinds:
        return raw
    raise bad()


def split_items(items, *, flag: str = "key=value") -> list[tuple[str, str]]:
    """``["a=1", "b=x"]`` -> ``[("a", "1"), ("b", "x")]``.

    Raises
    ------
    ParameterError
        An item without ``=`` or with an empty key.
    """
    out = []
    for item in items or []:
        key, sep, value = str(item).partition("=")
        if not sep or not key.strip():
            raise ParameterError(f"parameter {item!r} is not {flag} (for example n_components=64)")
        out.append((key.strip(), value.strip()))
    return out


def parse_params(items, specs: dict[str, ParamSpec] | None = None, owner: str = "") -> dict:
    """Parse ``key=value`` texts, typed by ``specs`` when given (free-form values otherwise).

    Parameters
    ----------
    items : list of str
    specs : dict, optional
        ``{name: ParamSpec}``; a name not in it raises (with the valid names).
    owner : str
        What the parameters belong to, for messages (a metric name).

    Returns
    -------
    dict

    Raises
    ------
    ParameterError
    """
    out = {}
    for key, value in split_items(items):
        if key in out:
            raise ParameterError(f"parameter {key!r}{' of ' + owner if owner else ''} is given twice")
        if specs is None:
            out[key] = _scalar(value)
            continue
        if key not in specs:
            raise unknown_parameter(key, owner, specs)
        out[key] = coerce(specs[key], value, owner)
    return out


def unknown_parameter(key: str, owner: str, valid) -> ParameterError:
    """The one message for a parameter name that is not valid: the valid names and the nearest."""
    names = sorted(valid)
    close = difflib.get_close_matches(key, names, n=1)
    hint = f" (did you mean {close[0]}?)" if close else ""
    return ParameterError(
        f"unknown parameter {key!r}{' for ' + owner if owner else ''}{hint}; valid: {', '.join(names) or 'none'}"
    )


__all__ = ["ParamSpec", "coerce", "estimator_specs", "parse_params", "split_items", "unknown_parameter"]
