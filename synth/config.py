"""Typed configuration: dataclasses that load from and save to YAML.

Every config in the project is a (possibly nested) dataclass deriving from `Config`. A YAML file states what it
changes from the class's defaults; nested sections merge key by key (lists and plain mappings are replaced).

- `_base_: other.yaml` (or a list of files), relative to the file, is applied first, in order, recursively;
- `overrides` such as `render.image.size=64` (the CLI's `--set`) are applied last, values parsed as YAML;
- unknown keys are an error naming the file (or the override) and the key, so a typo never silently falls
  back to a default.

`config_changes(config, reference)` is the reverse: the keys where a config differs from a reference one, the
content of a minimal YAML file.
"""
from __future__ import annotations

import dataclasses
import os
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml

C = TypeVar("C", bound="Config")


class ConfigError(ValueError):
    pass


def _convert(value: Any, hint: Any, where: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _from_dict(hint, value, where)
    if origin is typing.Union or (origin is not None and str(origin) == "<class 'types.UnionType'>"):
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _convert(value, arg, where)
            except (ConfigError, TypeError, ValueError):
                continue
        raise ConfigError(f"{where}: {value!r} does not match {hint}")
    if origin in (tuple, list):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise ConfigError(f"{where}: expected {len(args)} values, got {len(value)}")
            return tuple(_convert(v, a, where) for v, a in zip(value, args))
        item = args[0] if args else Any
        converted = [_convert(v, item, where) for v in value]
        return tuple(converted) if origin is tuple else converted
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return dict(value)
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is float and isinstance(value, str):  # PyYAML reads 1e-3 (no dot) as a string
        try:
            return float(value)
        except ValueError:
            raise ConfigError(f"{where}: expected float, got {value!r}") from None
    if hint is Path:
        return Path(value)
    if hint in (int, float) and isinstance(value, bool):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    if hint in (int, str, bool) and not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def _from_dict(cls, data: dict, where: str):
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = set(data) - names
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {sorted(unknown)} for {cls.__name__}; known: {sorted(names)}")
    kwargs = {k: _convert(v, hints[k], f"{where}.{k}") for k, v in data.items()}
    return cls(**kwargs)


def _to_plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _to_plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [_to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _to_plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


BASE_KEY = "_base_"


def read_yaml_layers(path: str | Path, _seen: tuple[Path, ...] = ()) -> list[tuple[str, dict]]:
    """The mappings a YAML file stands for, in the order they apply: its `_base_` files' (recursively, in the
    order listed, paths relative to the file), then its own keys. Each comes with the file's name for errors."""
    path = Path(path)
    resolved = path.resolve()
    if resolved in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, resolved))
        raise ConfigError(f"{path}: {BASE_KEY} cycle: {chain}")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {exc}") from None
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such config file") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    bases = data.pop(BASE_KEY, None)
    if bases is None:
        bases = []
    elif isinstance(bases, str):
        bases = [bases]
    elif not (isinstance(bases, list) and all(isinstance(b, str) for b in bases)):
        raise ConfigError(f"{path}: {BASE_KEY} must be a file name or a list of file names, got {bases!r}")
    layers = []
    for base in bases:
        base_path = path.parent / base
        if not base_path.is_file():
            raise ConfigError(f"{path}: {BASE_KEY} file {base!r} not found (looked for {base_path})")
        layers += read_yaml_layers(base_path, (*_seen, resolved))
    layers.append((str(path), data))
    return layers


def parse_override(text: str) -> tuple[str, dict]:
    """`a.b.c=value` -> ("--set a.b.c=value", {"a": {"b": {"c": value}}}), the value parsed as YAML (`64`,
    `0.5`, `true`, `null`, `[128, 128]`, `rgb`)."""
    where = f"--set {text}"
    key, sep, raw = text.partition("=")
    parts = key.strip().split(".")
    if not sep or not all(part.strip() for part in parts):
        raise ConfigError(f"{where}: expected KEY=VALUE with a dotted KEY, e.g. render.image.size=64")
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where}: value is not valid YAML: {exc}") from None
    for part in reversed(parts):
        value = {part.strip(): value}
    return where, value


def _merge(config, data: dict, where: str, path: str = ""):
    """A copy of `config` with the keys of `data` changed; nested config sections merge key by key."""
    cls = type(config)
    label = f"{where}: {path}" if path else where
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    unknown = [key for key in data if key not in names]
    if unknown:
        raise ConfigError(f"{label}: unknown key(s) {unknown} for {cls.__name__}; known: {sorted(names)}")
    changes = {}
    for key, value in data.items():
        current = getattr(config, key)
        inner = f"{path}.{key}" if path else key
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            changes[key] = _merge(current, value, where, inner)
        else:
            changes[key] = _convert(value, hints[key], f"{where}: {inner}")
    try:
        return dataclasses.replace(config, **changes)
    except ConfigError:
        raise
    except (TypeError, ValueError) as exc:  # a class's own checks (__post_init__)
        raise ConfigError(f"{label}: {exc}") from None


def config_changes(config, reference) -> dict:
    """The keys (nested) whose values differ between two configs of the same class, with `config`'s values:
    what a YAML file must say to turn `reference` into `config`."""
    out = {}
    for f in dataclasses.fields(config):
        mine, theirs = getattr(config, f.name), getattr(reference, f.name)
        if dataclasses.is_dataclass(mine) and type(mine) is type(theirs):
            inner = config_changes(mine, theirs)
            if inner:
                out[f.name] = inner
        elif _to_plain(mine) != _to_plain(theirs):
            out[f.name] = _to_plain(mine)
    return out


@dataclasses.dataclass
class Config:
    """Base class for typed configs."""

    @classmethod
    def from_dict(cls: type[C], data: dict | None, where: str = "config") -> C:
        """A config from a complete mapping (a saved config); sections left out take their class's defaults."""
        return _from_dict(cls, data or {}, where)

    @classmethod
    def from_yaml(cls: type[C], path: str | Path) -> C:
        return cls.load(path)

    @classmethod
    def load(cls: type[C], path: str | Path | None = None, overrides: typing.Iterable[str] = (),
             base: C | None = None) -> C:
        """`base` (default: the class's defaults), changed by the YAML file at `path` (with its `_base_` files)
        and then by `overrides` ("key.sub=value", e.g. from `--set`)."""
        config = base if base is not None else cls()
        if path is not None:
            for where, data in read_yaml_layers(path):
                config = config.merged(data, where)
        for text in overrides:
            where, data = parse_override(text)
            config = config.merged(data, where)
        return config

    def merged(self: C, data: dict, where: str = "config") -> C:
        """A copy with the keys of `data` (a nested mapping, as in a YAML file) changed."""
        return _merge(self, data, where)

    def to_dict(self) -> dict:
        return _to_plain(self)

    def replace(self: C, **changes) -> C:
        return dataclasses.replace(self, **changes)

    def save(self, path: str | Path) -> Path:
        """Write the config as YAML, atomically."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.tmp.{os.getpid()}")
        tmp.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False))
        os.replace(tmp, path)
        return path
