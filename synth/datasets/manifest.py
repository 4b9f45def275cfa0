"""`dataset.yaml`: the index of a dataset directory's complete shards, plus what made them.

The manifest is derived from the shards on disk (their completion attributes), so writers on many machines
can each add shards and any of them, or `cli.py inspect`, can rebuild it. It is rebuilt under an exclusive
lock (`.dataset.yaml.lock`, so concurrent writers never drop each other's shards) and written atomically.
Each shard being written is locked too (`.<shard>.lock`): a second process writing the same shard is refused
by name. The locks are `flock`s, released by the kernel when a process dies, so a killed run blocks nothing.
"""
from __future__ import annotations

import datetime as _dt
import errno
import os
import re
import uuid
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import yaml

from synth.datasets.schema import FIELDS_BY_NAME, MANIFEST_NAME, SCHEMA_VERSION, SHARD_SUFFIX, TMP_MARK, DatasetError

_SHARD_RE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-(?P<index>\d{5})\.h5$")


class ShardLock:
    """An exclusive, non-blocking `flock` on `.<name>.lock` beside `path`, re-entrant within a process (the
    render job locks all its shards up front, then its shard writers lock each again). `blocking=True` waits
    (the manifest's lock: updates are short)."""

    _held: dict[str, list] = {}  # lock file -> [fd, count], this process's locks

    def __init__(self, path: str | Path, blocking: bool = False, what: str = "shard"):
        path = Path(path)
        self.path, self.blocking, self.what = path, blocking, what
        self.lock_path = path.with_name(f".{path.name}.lock")
        self.held = False

    def acquire(self) -> "ShardLock":
        import fcntl

        key = str(self.lock_path.absolute())
        if self.held:
            return self
        if key in self._held:
            self._held[key][1] += 1
            self.held = True
            return self
        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if self.blocking else fcntl.LOCK_NB))
            except OSError as exc:
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise DatasetError(self.path, f"another process is writing this {self.what} (it holds "
                                       f"{self.lock_path.name}): the same --shard K/N started twice, or two runs "
                                       "into one directory; wait for it or stop it") from None
                raise
            try:  # the holder before us may have removed the file after we opened it: lock the current one
                same = os.fstat(fd).st_ino == os.stat(self.lock_path).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._held[key] = [fd, 1]
        self.held = True
        return self

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        key = str(self.lock_path.absolute())
        entry = self._held.get(key)
        if entry is None:
            return
        entry[1] -= 1
        if entry[1] > 0:
            return
        del self._held[key]
        try:
            self.lock_path.unlink()  # while still holding it: a waiter re-checks the inode (see acquire)
        except FileNotFoundError:
            pass
        os.close(entry[0])

    def __enter__(self) -> "ShardLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


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


def open_hdf5(path: Path, missing: str, unreadable: str) -> h5py.File:
    """Open an HDF5 file for reading; a missing or unreadable one raises DatasetError naming it, with `missing`
    or `unreadable` (followed by h5py's reason) as the problem."""
    if not path.exists():
        raise DatasetError(path, missing)
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise DatasetError(path, f"{unreadable}: {exc}") from None


def open_shard(path: Path) -> h5py.File:
    """Open a shard for reading; a missing, truncated or non-HDF5 file raises DatasetError naming it."""
    return open_hdf5(path, "shard listed in the manifest is missing", "cannot open HDF5 file (truncated or not HDF5)")


def read_field(f: h5py.File, path: Path, name: str, rows: slice | int = slice(None)):
    """`f[name][rows]`, with a failed Fletcher-32 checksum (a corrupt byte on disk) turned into a DatasetError
    naming the shard, the field and the samples of the chunk at fault."""
    dset = f[name]
    try:
        return dset[rows]
    except OSError as exc:
        first, last = _bad_chunk_rows(dset, rows)
        where = f"sample {first}" if first == last else f"samples {first}-{last}"
        raise DatasetError(path, f"{where}: stored data fail their checksum (corrupt file: {exc})", name) from None


def decoded(name: str, values):
    """A column as the reader hands it out: text fields (image_name) as str."""
    if name in FIELDS_BY_NAME and FIELDS_BY_NAME[name].dtype == "str":
        return np.array([v.decode() if isinstance(v, bytes) else str(v) for v in values], dtype=str)
    return values


def read_column(path: Path, name: str):
    """One field of every sample of one shard, without decoding images (text as str)."""
    with open_shard(path) as f:
        if name not in f:
            raise DatasetError(path, "field not in shard", name)
        return decoded(name, read_field(f, path, name))


def _bad_chunk_rows(dset, rows) -> tuple[int, int]:
    """The row range of the first unreadable chunk within `rows`."""
    step = dset.chunks[0] if dset.chunks else len(dset)
    start, stop, _ = rows.indices(len(dset)) if isinstance(rows, slice) else (rows, rows + 1, 1)
    for lo in range(start - start % step, stop, step):
        try:
            dset[lo:min(lo + step, len(dset))]
        except OSError:
            return max(lo, start), min(lo + step, stop) - 1
    return start, stop - 1


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
    # unique across machines sharing the directory, not only across processes of one
    tmp = path.with_name(f"{path.name}{TMP_MARK}.{os.getpid()}.{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def update_manifest(root: str | Path, meta: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rebuild `dataset.yaml` from the complete shards on disk, keeping (and updating with `meta`) the
    descriptive keys of any existing manifest. Concurrent callers take turns (a lock), so the last one to
    write has seen every shard the others had finished."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    with ShardLock(root / MANIFEST_NAME, blocking=True, what="manifest"):
        return _update_manifest(root, meta)


def _update_manifest(root: Path, meta: dict[str, Any] | None) -> dict[str, Any]:
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
