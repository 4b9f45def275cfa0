"""`dataset.yaml`: the index of a dataset directory's complete shards, plus what made them.

The manifest is derived from the shards on disk (their completion attributes), so writers on many machines
can each add shards and any of them, or `cli.py inspect`, can rebuild it. It is written atomically.
"""
from __future__ import annotations

import datetime as _dt
import os
import re
from pathlib import Path
from typing import Any

import h5py
import yaml

from synth.datasets.schema import MANIFEST_NAME, SCHEMA_VERSION, SHARD_SUFFIX, TMP_MARK, DatasetError

_SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})\.h5$")


def tool_version() -> str:
    try:
        from importlib.metadata import version

        return version("pamtri-synth")
    except Exception:
        return "0+unknown"


def shard_files(root: str | Path) -> list[Path]:
    """Shard files in a directory (complete or not; temporaries and pose sidecars excluded), sorted."""
    return sorted(p for p in Path(root).iterdir() if _SHARD_RE.match(p.name))


def split_of(path: Path) -> str:
    match = _SHARD_RE.match(path.name)
    if not match:
        raise DatasetError(path, f"not a shard file name (expected <split>-NNNNN{SHARD_SUFFIX})")
    return match.group("split")


def open_shard(path: Path) -> h5py.File:
    """Open a shard for reading; a missing, truncated or non-HDF5 file raises DatasetError naming it."""
    if not path.exists():
        raise DatasetError(path, "shard listed in the manifest is missing")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(path, f"cannot open HDF5 file (truncated or not HDF5): {exc}") from None


def read_shard_header(path: Path) -> dict[str, Any]:
    """Completion and size of a shard, from its attributes; raises DatasetError for unreadable files."""
    with open_shard(path) as f:
        return {
            "complete": bool(f.attrs.get("complete", False)),
            "num_samples": int(f.attrs.get("num_samples", 0)),
            "schema_version": int(f.attrs.get("schema_version", -1)),
            "split": str(f.attrs.get("split", "")),
        }


def is_complete_shard(path: Path) -> bool:
    """True for a finished shard; False for one that is absent, unreadable or unfinished."""
    try:
        return path.exists() and read_shard_header(path)["complete"]
    except DatasetError:
        return False


def read_manifest(root: str | Path) -> dict[str, Any]:
    path = Path(root) / MANIFEST_NAME
    if not path.exists():
        raise DatasetError(path, "no manifest: not a dataset directory (or nothing was written yet)")
    try:
        manifest = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise DatasetError(path, f"malformed YAML: {exc}") from None
    if not isinstance(manifest, dict) or "splits" not in manifest or "schema_version" not in manifest:
        raise DatasetError(path, "manifest lacks 'schema_version' or 'splits'")
    version = manifest["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise DatasetError(
            path, f"schema version {version!r} is newer than this toolkit reads ({SCHEMA_VERSION}); upgrade it",
            "schema_version",
        )
    return manifest


def _atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f"{path.name}{TMP_MARK}.{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def update_manifest(root: str | Path, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild `dataset.yaml` from the complete shards on disk, keeping (and updating with `meta`) the
    descriptive keys of any existing manifest."""
    root = Path(root)
    manifest: dict[str, Any] = {}
    if (root / MANIFEST_NAME).exists():
        manifest = {k: v for k, v in read_manifest(root).items() if k != "splits"}
    manifest.update(meta or {})
    manifest["schema_version"] = SCHEMA_VERSION
    manifest.setdefault("created", _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"))
    manifest["tool_version"] = tool_version()
    splits: dict[str, Any] = {}
    for path in shard_files(root):
        header = read_shard_header(path)
        if not header["complete"]:
            continue
        entry = splits.setdefault(split_of(path), {"num_samples": 0, "shards": []})
        entry["shards"].append({"file": path.name, "num_samples": header["num_samples"]})
        entry["num_samples"] += header["num_samples"]
    manifest["splits"] = splits
    ordered = {k: manifest[k] for k in ("schema_version", "source", "tool_version", "created") if k in manifest}
    ordered.update({k: v for k, v in manifest.items() if k not in ordered})
    _atomic_write_text(root / MANIFEST_NAME, yaml.safe_dump(ordered, sort_keys=False))
    return ordered


def manifest_shards(root: str | Path, manifest: dict[str, Any] | None = None) -> list[tuple[str, Path, int]]:
    """(split, path, num_samples) for every shard the manifest lists."""
    root = Path(root)
    manifest = manifest or read_manifest(root)
    out = []
    for split, entry in manifest["splits"].items():
        for shard in entry.get("shards", []):
            out.append((split, root / shard["file"], int(shard["num_samples"])))
    return out
