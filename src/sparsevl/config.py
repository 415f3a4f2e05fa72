"""Typed configs: a JSON file, then command-line overrides, then validation.

A config is a (possibly nested) dataclass whose fields all have type hints and, usually, defaults.
`load_config(cls, path, overrides)` reads the JSON file, applies overrides given as argv-style
tokens (`--lr 3e-4`, `--model.hidden_size=256`, `--milestones [1,2]`, `--amp null`) and checks
every value against the field's type. An unknown key, a wrong type or a value outside a `Literal`
raises `ConfigError` naming the key (dotted for nested configs) and where it came from. If a
config class defines `validate(self)`, it is called last for cross-field rules; a `ValueError`
it raises becomes a `ConfigError`. A config class may also define a classmethod
`adapt_config_file(data, source) -> dict`: `load_config` passes it the file's JSON object first, so
the class can accept another format (RunConfig reads ClipBERT's config files this way).

Accepted types: int (not bool), float (int or float), bool (only true/false), str, `X | None`,
`Literal[...]`, `list[T]`, `tuple[T, ...]`, `tuple[A, B]`, `dict[str, T]`, nested dataclasses and
`Any`. An override value for a str field is taken as is; any other value is read as JSON (`3e-4`,
`true`, `null`, `[1,2]`) or as a Python literal (`True`, `None`). For `str | None`, `null` means
None. A value that starts with `--` must be written as `--key=--value`. Dashes in keys
are read as underscores (`--hidden-size` is `hidden_size`).

Commands parse their own options with `parse_known_args` (without abbreviations, so that an
override cannot be taken for a parser option) and pass the rest to `load_config`:

    cfg = load_config(RunConfig, args.config, rest)   # rest holds the --key value overrides
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import functools
import json
import os
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from sparsevl.files import write_atomic
from sparsevl.problems import UserError

T = typing.TypeVar("T")
CLI = "command line"


class ConfigError(UserError, ValueError):
    """A config problem, with the key (dotted path) and the source (a file or the command line)."""

    def __init__(self, message: str, key: str = "", source: str = ""):
        self.key, self.source, self.detail = key, source, message
        super().__init__(": ".join(p for p in (source, key, message) if p))


@functools.lru_cache(maxsize=None)
def _fields(cls: type) -> dict[str, tuple[Any, dataclasses.Field]]:
    """Name -> (resolved type, field) for the fields a config sets through __init__."""
    hints = get_type_hints(cls)
    return {f.name: (hints[f.name], f) for f in dataclasses.fields(cls) if f.init}


def _is_config(tp: Any) -> bool:
    return isinstance(tp, type) and dataclasses.is_dataclass(tp)


def _is_union(tp: Any) -> bool:
    return get_origin(tp) in (Union, types.UnionType)


def _type_name(tp: Any) -> str:
    if tp is type(None):
        return "None"
    if _is_union(tp):
        return " | ".join(_type_name(a) for a in get_args(tp))
    if get_origin(tp) is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(tp))
    if _is_config(tp):
        return f"an object ({tp.__name__})"
    if get_origin(tp) is not None:
        args = ", ".join("..." if a is Ellipsis else _type_name(a) for a in get_args(tp))
        return f"{get_origin(tp).__name__}[{args}]"
    return getattr(tp, "__name__", str(tp))


def _mismatch(tp: Any, value: Any, key: str, source: str) -> ConfigError:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return ConfigError(f"expected {_type_name(tp)}, got {shown} ({type(value).__name__})", key, source)


def _dotted_keys(cls: type, prefix: str = "") -> list[str]:
    keys = []
    for name, (tp, _) in _fields(cls).items():
        keys.append(prefix + name)
        if _is_config(tp):
            keys += _dotted_keys(tp, f"{prefix}{name}.")
    return keys


def _unknown(key: str, valid: list[str], source: str) -> ConfigError:
    def score(k: str) -> float:  # compare last parts, so `hidden_size` finds `model.hidden_size`
        return difflib.SequenceMatcher(None, key.rsplit(".", 1)[-1], k.rsplit(".", 1)[-1]).ratio()
    valid = [k for k in valid if not key.startswith(k + ".")]  # not the key's own parents
    close = sorted((k for k in valid if score(k) >= 0.7), key=score, reverse=True)[:3]
    hint = f"did you mean {' or '.join(map(repr, close))}?" if close else f"valid keys: {', '.join(valid)}"
    return ConfigError(f"unknown key ({hint})", key, source)


def _convert(tp: Any, value: Any, key: str, source: str) -> Any:
    """Check `value` against type `tp` and return it in that type (lists to tuples, dicts to configs)."""
    origin, args = get_origin(tp), get_args(tp)
    if tp is Any:
        return value
    if _is_config(tp):
        if isinstance(value, tp):
            value = to_dict(value)
        if not isinstance(value, dict):
            raise _mismatch(tp, value, key, source)
        return _build(tp, value, source, key + ".", check=False)
    if _is_union(tp):
        if value is None and type(None) in args:
            return None
        members = [a for a in args if a is not type(None)]
        for member in members:
            try:
                return _convert(member, value, key, source)
            except ConfigError as e:
                if len(members) == 1 and e.key != key:
                    raise  # the problem is deeper inside, e.g. a nested config's key
        raise _mismatch(tp, value, key, source)
    if origin is Literal:
        if not any(value == a and type(value) is type(a) for a in args):
            raise _mismatch(tp, value, key, source)
        return value
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise _mismatch(tp, value, key, source)
    if tp in (int, bool, str, type(None)):
        if type(value) is not tp:  # exact type: True is not an int here, 1 is not a bool
            raise _mismatch(tp, value, key, source)
        return value
    if tp in (list, tuple) or origin in (list, tuple):
        if not isinstance(value, (list, tuple)):
            raise _mismatch(tp, value, key, source)
        if not args:
            return (tuple if (origin or tp) is tuple else list)(value)
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis):
            if len(value) != len(args):
                raise _mismatch(tp, value, key, source)
            return tuple(_convert(a, v, f"{key}[{i}]", source) for i, (a, v) in enumerate(zip(args, value)))
        items = [_convert(args[0], v, f"{key}[{i}]", source) for i, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    if tp is dict or origin is dict:
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise _mismatch(tp, value, key, source)
        return {k: _convert(args[1], v, f"{key}.{k}", source) if args else v for k, v in value.items()}
    raise ConfigError(f"unsupported field type {_type_name(tp)}", key, source)


def _build(cls: type[T], data: dict, source: str, prefix: str = "", check: bool = True) -> T:
    known = _fields(cls)
    for name in data:
        if name not in known:
            raise _unknown(prefix + name, _dotted_keys(cls, prefix), source)
    missing = [prefix + n for n, (_, f) in known.items() if n not in data
               and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise ConfigError(f"missing required key(s): {', '.join(missing)}", prefix.rstrip("."), source)
    kwargs = {n: _convert(known[n][0], v, prefix + n, source) for n, v in data.items()}
    try:
        cfg = cls(**kwargs)
        if check:
            _check(cfg, source, prefix)
    except ConfigError:
        raise
    except ValueError as e:
        raise ConfigError(str(e), prefix.rstrip("."), source) from e
    return cfg


def _check(cfg: Any, source: str, prefix: str = "") -> None:
    """Run `validate()` on nested configs first, then on `cfg` itself."""
    for name, (tp, _) in _fields(type(cfg)).items():
        if _is_config(type(getattr(cfg, name))):
            _check(getattr(cfg, name), source, f"{prefix}{name}.")
    if callable(getattr(cfg, "validate", None)):
        try:
            cfg.validate()
        except ValueError as e:
            raise ConfigError(str(e), prefix.rstrip("."), source) from e


def from_dict(cls: type[T], data: dict, source: str = "") -> T:
    """Build config `cls` from a plain dict, checking keys and types; missing keys take defaults."""
    if not isinstance(data, dict):
        raise ConfigError(f"expected a JSON object, got {type(data).__name__}", "", source)
    return _build(cls, data, source)


def to_dict(cfg: Any) -> dict:
    """The config as plain JSON-ready data (nested configs to dicts, tuples to lists)."""
    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v) and not isinstance(v, type):
            return {n: plain(getattr(v, n)) for n in _fields(type(v))}
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v
    return plain(cfg)


def _parse_tokens(tokens: list[str]) -> list[tuple[str, str]]:
    pairs, i = [], 0
    while i < len(tokens):
        tok = tokens[i]
        if not tok.startswith("--") or tok in ("--", "--="):
            raise ConfigError(f"expected --key value, got {tok!r}", "", CLI)
        key, eq, value = tok[2:].partition("=")
        if not eq:
            if i + 1 >= len(tokens) or tokens[i + 1].startswith("--"):
                raise ConfigError("no value given (use --key value or --key=value)", key, CLI)
            value, i = tokens[i + 1], i + 1
        pairs.append((key.replace("-", "_"), value))
        i += 1
    return pairs


def _field_type(cls: type, key: str) -> Any:
    tp, done = cls, ""
    for part in key.split("."):
        if not _is_config(tp):
            raise ConfigError(f"{done} is not a nested config; give its whole value as JSON", key, CLI)
        if part not in _fields(tp):
            raise _unknown(key, _dotted_keys(cls), CLI)
        tp, done = _fields(tp)[part][0], f"{done}.{part}".lstrip(".")
    return tp


def _parse_value(tp: Any, raw: str, key: str) -> Any:
    """Read an override string as the field's type: raw for str, else JSON or a Python literal."""
    if tp is str:
        return raw
    candidates = []
    for parse in (json.loads, ast.literal_eval):
        try:
            candidates.append(parse(raw))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            pass
    errors = []
    for value in candidates + [raw]:
        try:
            return _convert(tp, value, key, CLI)
        except ConfigError as e:
            errors.append(e)
    raise errors[0]  # about the parsed value if it parsed, else about the raw string


def _read_json(path: str) -> dict:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise ConfigError("key given twice", k, path)
            seen[k] = v
        return seen
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as e:
        raise ConfigError(f"invalid JSON at line {e.lineno}, column {e.colno}: {e.msg}", "", path) from e
    except OSError as e:
        raise ConfigError(f"cannot read config file: {e.strerror or e}", "", path) from e


def load_config(cls: type[T], path: str | os.PathLike | None, overrides: Sequence[str] = ()) -> T:
    """Config from a JSON file (or the defaults if `path` is None), then `--key value` overrides."""
    source = os.fspath(path) if path else "defaults"
    data = _read_json(source) if path else {}
    if not isinstance(data, dict):
        raise ConfigError(f"expected a JSON object, got {type(data).__name__}", "", source)
    adapt = getattr(cls, "adapt_config_file", None)  # a config class may read other file formats
    if path and callable(adapt):
        data = adapt(data, source)
    return config_with_overrides(cls, data, source, overrides)


def config_with_overrides(cls: type[T], data: dict, source: str, overrides: Sequence[str] = ()) -> T:
    """Config from data (e.g. the config saved in a checkpoint), then `--key value` overrides."""
    merged = to_dict(_build(cls, data, source, check=False))  # validate() runs after the overrides
    for key, raw in _parse_tokens(list(overrides)):
        tp = _field_type(cls, key)
        value = to_dict(_parse_value(tp, raw, key))
        *parents, leaf = key.split(".")
        node = merged
        for p in parents:
            node = node[p]
        node[leaf] = value
    if overrides:
        source += " with command-line overrides"
    return from_dict(cls, merged, source)


def save_config(cfg: Any, path: str | os.PathLike) -> None:
    """Write the config as indented JSON, atomically."""
    text = json.dumps(to_dict(cfg), indent=2) + "\n"
    write_atomic(path, lambda f: f.write(text.encode("utf-8")))
