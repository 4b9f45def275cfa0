"""Reading datasets: a map-style reader over one or many dataset directories, without torch (the data layer
is imported by every Blender render worker); the trainers' torch `Dataset` is `train.data.ShardDataset`.

h5py handles cannot cross a fork or a pickle, so each process opens the shards it touches lazily, on first
access, and keeps them open (one handle per shard per worker).
"""
from __future__ import annotations

import os
import zlib
from pathlib import Path
from typing import Any, Iterable, Sequence

import h5py
import numpy as np

from synth.datasets.manifest import decoded, manifest_shards, open_shard, read_field, read_manifest
from synth.datasets.schema import CHECKSUM_FIELDS, SCHEMA_VERSION, DatasetError
from synth.datasets.sidecar import ALL_FIELDS as POSE_FIELD_NAMES, open_sidecar, sidecar_path
from synth.datasets.writer import decode_image

# Small per-sample labels loaded for every sample up front: samplers and the evaluator need them all.
LABEL_FIELDS = ("vehicle_id", "camera_id", "color_id", "type_id")


def _as_list(value) -> list:
    if value is None:
        return []
    if isinstance(value, (str, Path)):
        return [value]
    return list(value)


class ShardReader:
    """Samples of the given splits of one or more dataset directories, in shard order.

    `labels` holds numpy arrays over all samples (vehicle_id, camera_id, color_id, type_id, and `source`:
    the index of the directory each sample came from; identity spaces of different directories are separate,
    so `(source, vehicle_id)` is the identity). Items are dicts with the decoded RGB `image` and every stored
    field of that sample (or the `fields` named, plus those of `optional_fields` that its shard has);
    `with_pose=True` adds the pose sidecar's fields as `pose_keypoints`, `pose_heatmaps`, `pose_segments` (or
    pass the names wanted, e.g. `with_pose=("keypoints",)` for keypoints-only sidecars such as those imported
    from PAMTRI ReID CSVs).
    """

    def __init__(
        self,
        roots: str | Path | Sequence[str | Path],
        splits: str | Iterable[str] | None = None,
        fields: Iterable[str] | None = None,
        with_pose: bool | Iterable[str] = False,
        decode: bool = True,
        optional_fields: Iterable[str] = (),
    ):
        self.roots = [Path(r) for r in _as_list(roots)]
        if not self.roots:
            raise ValueError("no dataset directories given")
        wanted = set(_as_list(splits)) or None
        self.fields = None if fields is None else tuple(fields)
        self.optional_fields = tuple(optional_fields)
        if with_pose is True:
            with_pose = POSE_FIELD_NAMES
        self.pose_fields: tuple[str, ...] = tuple(with_pose or ())
        self.decode = decode
        self.shards: list[Path] = []
        self.shard_split: list[str] = []
        self.shard_sizes: list[int] = []
        shard_of, local_of, source_of = [], [], []
        labels: dict[str, list[np.ndarray]] = {name: [] for name in LABEL_FIELDS}
        self.manifests = []
        for source, root in enumerate(self.roots):
            manifest = read_manifest(root)
            self.manifests.append(manifest)
            for split, path, count in manifest_shards(root, manifest):
                if wanted is not None and split not in wanted:
                    continue
                shard_index = len(self.shards)
                self.shards.append(path)
                self.shard_split.append(split)
                self.shard_sizes.append(count)
                with self._open_checked(path, count) as f:
                    for name in LABEL_FIELDS:
                        labels[name].append(read_field(f, path, name))
                shard_of.append(np.full(count, shard_index, np.int32))
                local_of.append(np.arange(count, dtype=np.int64))
                source_of.append(np.full(count, source, np.int16))
        if not self.shards:
            raise DatasetError(self.roots[0], f"no shards for splits {sorted(wanted) if wanted else 'any'}")
        self._shard_of = np.concatenate(shard_of)
        self._local_of = np.concatenate(local_of)
        self.labels = {name: np.concatenate(chunks) for name, chunks in labels.items()}
        self.labels["source"] = np.concatenate(source_of)
        self._handles: dict[int, h5py.File] = {}
        self._pose_handles: dict[int, h5py.File] = {}
        self._pid = os.getpid()

    @staticmethod
    def _open_checked(path: Path, expected: int) -> h5py.File:
        f = open_shard(path)
        version = int(f.attrs.get("schema_version", -1))
        if version > SCHEMA_VERSION:
            f.close()
            raise DatasetError(path, f"schema version {version} is newer than this toolkit reads ({SCHEMA_VERSION})", "schema_version")
        if not f.attrs.get("complete", False) or "vehicle_id" not in f or len(f["vehicle_id"]) != expected:
            f.close()
            raise DatasetError(path, f"incomplete shard: the manifest lists {expected} samples")
        return f

    def __len__(self) -> int:
        return len(self._shard_of)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_handles"], state["_pose_handles"] = {}, {}
        return state

    def _handle(self, shard: int, pose: bool = False) -> h5py.File:
        if self._pid != os.getpid():  # forked into a worker: the parent's handles are not ours
            self._handles, self._pose_handles, self._pid = {}, {}, os.getpid()
        handles = self._pose_handles if pose else self._handles
        if shard not in handles:
            path = self.shards[shard]
            handles[shard] = open_sidecar(sidecar_path(path)) if pose else h5py.File(path, "r")
        return handles[shard]

    def sidecars(self) -> list[tuple[Path, int]]:
        """(shard, num_samples) of every shard read, for the pose sidecar checks (synth.datasets.sidecar)."""
        return list(zip(self.shards, self.shard_sizes))

    def splits(self) -> np.ndarray:
        """The split of every sample."""
        return np.asarray(self.shard_split)[self._shard_of]

    def column(self, name: str, shard: int | None = None) -> np.ndarray:
        """One stored field of every sample (or of one shard's), read column-wise without decoding images;
        strings come back as str."""
        chunks = []
        for index in range(len(self.shards)) if shard is None else [shard]:
            path = self.shards[index]
            f = self._handle(index)
            if name not in f:
                raise DatasetError(path, "field not in shard", name)
            chunks.append(read_field(f, path, name))
        return decoded(name, np.concatenate(chunks))

    def locate(self, index: int) -> tuple[Path, int]:
        """The shard file and the row inside it of sample `index`."""
        return self.shards[self._shard_of[index]], int(self._local_of[index])

    def __getitem__(self, index: int) -> dict[str, Any]:
        if index < 0:
            index += len(self)
        shard, row = int(self._shard_of[index]), int(self._local_of[index])
        f = self._handle(shard)
        names = self.fields if self.fields is not None else tuple(k for k in f.keys() if k not in CHECKSUM_FIELDS)
        names += tuple(name for name in self.optional_fields if name in f and name not in names)
        item: dict[str, Any] = {"index": index, "source": int(self.labels["source"][index])}
        path = self.shards[shard]
        for name in names:
            if name not in f:
                raise DatasetError(path, "field not in shard", name)
            value = read_field(f, path, name, row)
            if name == "image":
                if "image_crc32" in f and zlib.crc32(value.tobytes()) != int(read_field(f, path, "image_crc32", row)):
                    raise DatasetError(path, f"sample {row}: image bytes fail their CRC-32 (corrupt file)", "image")
                item[name] = decode_image(value, f"{path} sample {row}") if self.decode else value
            elif name == "image_name":
                item[name] = value.decode() if isinstance(value, bytes) else str(value)
            else:
                item[name] = value
        if self.pose_fields:
            pose = self._handle(shard, pose=True)
            for name in self.pose_fields:
                if name not in pose:
                    raise DatasetError(pose.filename, "pose sidecar lacks this field (run `cli.py predict-pose`)", name)
                item[f"pose_{name}"] = pose[name][row]
        return item

    def identities(self) -> np.ndarray:
        """A dense identity index per sample, with different source directories kept apart."""
        pairs = np.stack([self.labels["source"].astype(np.int64), self.labels["vehicle_id"]], axis=1)
        _, dense = np.unique(pairs, axis=0, return_inverse=True)
        return dense.reshape(-1)

    def close(self) -> None:
        for handles in (self._handles, self._pose_handles):
            for f in handles.values():
                f.close()
            handles.clear()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
