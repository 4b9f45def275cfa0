"""What every importer shares: label-file readers, the bad-input policy, image checks, and the resumable,
streaming writer that turns an ordered list of labelled images into complete shards (docs/IMPORT.md).

An importer describes each split as a deterministic, re-iterable sequence of `Entry` (one listed image and
its labels, no pixels) and `Problem` (a row that could not be read). `import_splits` walks each sequence
twice: first to find every label-level problem (malformed rows, duplicate names, missing images) before
anything is written, then to write. Shard k of a split always holds the entries at positions
[k * shard_size, (k + 1) * shard_size) of that sequence (bad positions left out), so a re-run skips the shards
that are already complete and redoes only the rest. Memory holds labels and one shard's pending rows, never
the images of more than one sample.
"""
from __future__ import annotations

import codecs
import hashlib
import io
import re
import struct
import xml.parsers.expat as expat
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import h5py
import numpy as np

from synth import vocabulary as vocab
from synth.datasets.manifest import is_complete_shard, read_manifest, read_shard_header, shard_files, split_of, update_manifest
from synth.datasets.schema import (
    DEFAULT_IMAGE_FORMAT,
    DEFAULT_SHARD_SIZE,
    MANIFEST_NAME,
    DatasetError,
    shard_name,
)
from synth.datasets.sidecar import is_complete_sidecar, sidecar_path, write_sidecar
from synth.datasets.writer import Sample, ShardWriter, decode_image, encoded_format

SKIP_HINT = "(skip_bad=True / --skip-bad skips such rows and counts them)"
MAX_EXAMPLES = 20  # problems listed by name in a report; the rest are counted


# --- entries and problems ----------------------------------------------------------------------------------


@dataclass
class Entry:
    """One listed image and its labels. `label_file`/`line` say where it was listed, for error messages."""

    image_path: Path
    image_name: str
    vehicle_id: int
    label_file: Path
    line: int
    camera_id: int = -1
    color_id: int = 0
    type_id: int = 0
    keypoints: np.ndarray | None = None  # (36, 3) x, y, visibility code: ground truth
    pose_keypoints: np.ndarray | None = None  # (36, 3) x, y, confidence: a pose prediction, goes to the sidecar
    declared_size: tuple[int, int] | None = None  # (width, height) the label file states, checked against the image

    def where(self) -> str:
        return f"{self.label_file}:{self.line}"


@dataclass
class Problem:
    """A bad row or a bad image: the file at fault, the line (when a label file is at fault), what is wrong."""

    path: Path
    problem: str
    line: int | None = None
    kind: str = "row"  # "row" (labels) or "image"

    def __str__(self) -> str:
        return f"{self.path}" + (f":{self.line}" if self.line else "") + f": {self.problem}"

    def error(self) -> DatasetError:
        prefix = f"line {self.line}: " if self.line else ""
        return DatasetError(self.path, f"{prefix}{self.problem} {SKIP_HINT}")


class RowError(ValueError):
    """Raised by the row parsers; the caller adds the file and line."""


class BadInput:
    """The bad-input policy: raise the first problem, or (skip=True) count it and carry on."""

    def __init__(self, skip: bool):
        self.skip = skip
        self.counts: Counter[str] = Counter()
        self.examples: list[str] = []

    def report(self, problem: Problem) -> None:
        if not self.skip:
            raise problem.error()
        self.counts[problem.kind] += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(str(problem))


# --- small parsers -----------------------------------------------------------------------------------------


def parse_int(text: str, what: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise RowError(f"{what} is not an integer: {text!r}") from None


def parse_float(text: str, what: str) -> float:
    try:
        value = float(str(text).strip())
    except ValueError:
        raise RowError(f"{what} is not a number: {text!r}") from None
    if np.isinf(value):
        raise RowError(f"{what} is infinite: {text!r}")
    return value


def parse_attribute(text: str, what: str, names: tuple[str, ...]) -> int:
    """A VeRi colour or type id: 1-based, 0 unknown."""
    value = parse_int(text, what)
    if not 0 <= value < len(names):
        raise RowError(f"{what} {value} is outside the VeRi vocabulary 0..{len(names) - 1}")
    return value


def parse_color(text: str) -> int:
    return parse_attribute(text, "colour id", vocab.COLOR_NAMES)


def parse_type(text: str) -> int:
    return parse_attribute(text, "type id", vocab.TYPE_NAMES)


_CAMERA_ATTR = re.compile(r"^[cC]?(\d+)$")


def parse_camera_attribute(text: str) -> int:
    """A camera id as VeRi and CityFlow XML give it: 'c001' (or a bare number)."""
    match = _CAMERA_ATTR.match(str(text).strip())
    if not match:
        raise RowError(f"camera id cannot be parsed: {text!r} (expected e.g. 'c001')")
    return int(match.group(1))


def camera_from_name(name: str) -> int:
    """The camera a PAMTRI ReID loader reads from a file name: the 3 digits after the first 'c', or -1 when the
    name has no 'c' (synthetic data). A 'c' not followed by 3 digits cannot be parsed: RowError."""
    index = name.find("c")
    if index < 0:
        return -1
    digits = name[index + 1 : index + 4]
    if len(digits) != 3 or not digits.isdigit():
        raise RowError(
            f"camera id cannot be parsed from image name {name!r}: the published loader reads the 3 characters "
            f"after the first 'c' ({digits!r})"
        )
    return int(digits)


def vehicle_from_name(name: str) -> int:
    """The identity VeRi-style names start with ('0002_c002_...' -> 2), or -1."""
    match = re.match(r"^(\d+)_", name)
    return int(match.group(1)) if match else -1


def check_image_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise RowError("empty image name")
    if "/" in name or "\\" in name or name in (".", ".."):
        raise RowError(f"image name {name!r} is not a plain file name")
    return name


def require_dir(path: Path, what: str) -> Path:
    if not path.is_dir():
        raise DatasetError(path, f"missing folder: {what}")
    return path


def require_file(path: Path, what: str) -> Path:
    if not path.is_file():
        raise DatasetError(path, f"missing file: {what}")
    return path


def read_name_list(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, name) for each non-blank line of a VeRi/CityFlow name list (`name_*.txt`)."""
    with open(path, "r", encoding="utf-8", errors="strict", newline=None) as f:
        try:
            for number, line in enumerate(f, 1):
                if line.strip():
                    yield number, line.strip()
        except UnicodeDecodeError as exc:
            raise DatasetError(path, f"not UTF-8 text: {exc.reason}") from None


# --- XML with a declared encoding expat cannot read (VeRi and CityFlow declare gb2312) ---------------------

_XML_DECL = re.compile(rb"^\s*<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._:-]+)[\"']")
# GB2312 is a subset of GB18030 with the same byte sequences; decoding with the superset also accepts the
# GBK characters that files labelled gb2312 often contain in practice.
_ENCODING_ALIASES = {"gb2312": "gb18030", "gbk": "gb18030", "gb_2312-80": "gb18030", "euc-cn": "gb18030"}
_CHUNK = 1 << 16


def _xml_encoding(head: bytes, path: Path) -> str:
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    match = _XML_DECL.match(head)
    declared = match.group(1).decode("ascii").lower() if match else "utf-8"
    encoding = _ENCODING_ALIASES.get(declared, declared)
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise DatasetError(path, f"line 1: unknown XML encoding {declared!r}") from None
    return encoding


def iter_xml_items(path: Path, tag: str = "Item") -> Iterator[tuple[int, dict[str, str]]]:
    """(line number, attributes) of every `tag` element, streaming. The bytes are decoded with the encoding
    the XML declaration names and handed to expat as UTF-8 (expat itself rejects multi-byte encodings)."""
    path = Path(path)
    require_file(path, "label XML")
    parser = expat.ParserCreate(encoding="utf-8")  # overrides the declaration: we feed UTF-8
    ready: list[tuple[int, dict[str, str]]] = []

    def start(name, attrs):
        if name == tag:
            ready.append((parser.CurrentLineNumber, attrs))

    parser.StartElementHandler = start
    with open(path, "rb") as f:
        data = f.read(_CHUNK)
        encoding = _xml_encoding(data, path)
        decoder = codecs.getincrementaldecoder(encoding)("strict")
        lines_before = 0
        while True:
            final = not data
            try:
                parser.Parse(decoder.decode(data, final=final).encode("utf-8"), final)
            except UnicodeDecodeError as exc:
                line = lines_before + data[: max(exc.start, 0)].count(b"\n") + 1
                raise DatasetError(path, f"near line {line}: bytes that are not {encoding} text ({exc.reason})") from None
            except expat.ExpatError as exc:
                raise DatasetError(path, f"line {exc.lineno}: malformed XML: {expat.ErrorString(exc.code)}") from None
            yield from ready
            ready.clear()
            if final:
                return
            lines_before += data.count(b"\n")
            data = f.read(_CHUNK)


def read_xml_labels(path: Path, parse: Callable[[dict[str, str]], dict], bad: BadInput) -> dict[str, tuple[int, dict]]:
    """imageName -> (line, parsed labels) for every Item of a label XML. Bad items and repeated names are
    reported to `bad` (the first occurrence of a name wins)."""
    labels: dict[str, tuple[int, dict]] = {}
    for line, attrs in iter_xml_items(path):
        try:
            name = check_image_name(attrs.get("imageName", ""))
            parsed = parse(attrs)
        except RowError as exc:
            bad.report(Problem(path, str(exc), line))
            continue
        if name in labels:
            bad.report(Problem(path, f"duplicate image name {name!r} (first at line {labels[name][0]})", line))
            continue
        labels[name] = (line, parsed)
    return labels


# --- images ------------------------------------------------------------------------------------------------

_SOF_MARKERS = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def image_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG or PNG header without decoding, or None when the header is unreadable."""
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        if len(data) >= 24 and data[12:16] == b"IHDR":
            return struct.unpack(">II", data[16:24])
        return None
    if data[:2] != b"\xff\xd8":
        return None
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            i += 2
            continue
        if marker in _SOF_MARKERS:
            if i + 9 > len(data):
                return None
            height, width = struct.unpack(">HH", data[i + 5 : i + 9])
            return width, height
        i += 2 + int.from_bytes(data[i + 2 : i + 4], "big")
    return None


def truncation_problem(data: bytes, fmt: str | None) -> str | None:
    """Some decoders fill a truncated JPEG with grey instead of failing: catch it. A JPEG that does not end
    with its end-of-image marker is fully decoded by Pillow to tell truncation from harmless trailing bytes."""
    if fmt == "png":
        return None if b"IEND" in data[-16:] else "truncated PNG (no IEND chunk at the end)"
    if fmt != "jpeg" or data.rstrip(b"\x00\r\n\t ").endswith(b"\xff\xd9"):
        return None
    try:
        from PIL import Image

        with Image.open(io.BytesIO(data)) as image:
            image.load()
    except Exception as exc:  # Pillow raises OSError for truncation, others for garbage
        return f"truncated or corrupt JPEG ({exc})"
    return None


def load_image(entry: Entry, shard_format: str | None) -> tuple[bytes | np.ndarray, str | None, bool]:
    """The image of `entry` as the shard should store it: the original bytes when they are JPEG/PNG in the
    shard's format (no re-encoding), else decoded pixels (transcoded). Returns (image, format, transcoded);
    raises RowError for a missing, unreadable, truncated or undecodable file."""
    try:
        data = entry.image_path.read_bytes()
    except OSError as exc:
        raise RowError(f"cannot read image: {exc.strerror or exc}") from None
    if not data:
        raise RowError("image file is empty")
    fmt = encoded_format(data)
    problem = truncation_problem(data, fmt)
    if problem:
        raise RowError(problem)
    if entry.declared_size is not None:
        size = image_size(data) if fmt else None
        if size is None:
            size = tuple(reversed(_decode(data).shape[:2]))
        if tuple(size) != tuple(entry.declared_size):
            raise RowError(
                f"image is {size[0]}x{size[1]} but {entry.where()} declares {entry.declared_size[0]}x{entry.declared_size[1]}"
            )
    if fmt is not None and fmt == (shard_format or fmt):
        return data, fmt, False
    return _decode(data), fmt, True


def _decode(data: bytes) -> np.ndarray:
    try:
        return decode_image(data, "image")
    except ValueError:
        raise RowError("cannot decode image (corrupt or not an image)") from None


# --- the resumable writer ----------------------------------------------------------------------------------


@dataclass
class SplitSource:
    """A split to import: `entries()` returns a fresh iterator over the same deterministic sequence each call."""

    split: str
    entries: Callable[[], Iterable[Entry | Problem]]


@dataclass
class SplitReport:
    split: str
    listed: int = 0  # positions in the label sequence (rows, names)
    written: int = 0  # samples written by this run
    resumed: int = 0  # samples found in shards completed by an earlier run
    skipped_rows: int = 0
    skipped_images: int = 0  # this run
    skipped_images_earlier: int = 0  # missing from shards an earlier run completed
    transcoded: int = 0
    shards: int = 0
    pose_sidecars: bool = False

    @property
    def samples(self) -> int:
        return self.written + self.resumed

    def line(self) -> str:
        text = f"{self.split}: {self.samples} samples in {self.shards} shards ({self.listed} listed"
        if self.resumed:
            text += f"; {self.resumed} from an earlier run"
        skipped = self.skipped_rows + self.skipped_images + self.skipped_images_earlier
        if skipped:
            text += f"; skipped {self.skipped_rows} bad rows, {self.skipped_images + self.skipped_images_earlier} bad images"
        if self.transcoded:
            text += f"; {self.transcoded} images re-encoded to the shard's format"
        if self.pose_sidecars:
            text += "; pose keypoints in .pose.h5 sidecars"
        return text + ")"


@dataclass
class ImportReport:
    out: Path
    source: str
    splits: dict[str, SplitReport] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    examples: list[str] = field(default_factory=list)  # skipped problems, first MAX_EXAMPLES
    skipped_label_items: int = 0  # label-file records dropped before being matched to a split (bad XML Items)

    @property
    def skipped(self) -> int:
        per_split = sum(r.skipped_rows + r.skipped_images + r.skipped_images_earlier for r in self.splits.values())
        return per_split + self.skipped_label_items

    def format(self) -> str:
        lines = [f"imported {self.source} into {self.out}"]
        lines += [f"  {report.line()}" for report in self.splits.values()]
        if self.skipped_label_items:
            lines.append(f"  skipped {self.skipped_label_items} bad label-file items")
        lines += [f"  note: {note}" for note in self.notes]
        if self.skipped:
            lines.append(f"  skipped {self.skipped} in all; first problems:")
            lines += [f"    {example}" for example in self.examples]
        return "\n".join(lines)

    def as_dict(self) -> dict:
        return {
            split: {"samples": r.samples, "listed": r.listed, "skipped_rows": r.skipped_rows,
                    "skipped_images": r.skipped_images + r.skipped_images_earlier}
            for split, r in self.splits.items()
        }


def _entry_digest(h, entry: Entry) -> None:
    h.update(repr((entry.image_name, entry.vehicle_id, entry.camera_id, entry.color_id, entry.type_id,
                   entry.declared_size)).encode())
    for array in (entry.keypoints, entry.pose_keypoints):
        h.update(b"-" if array is None else np.ascontiguousarray(array, np.float32).tobytes())


def chunk_digest(entries: list[Entry], shard_size: int, index: int) -> str:
    """What shard `index` was planned to hold; stored in the shard so a resume never mixes two plans."""
    h = hashlib.sha256(f"{shard_size}:{index}".encode())
    for entry in entries:
        _entry_digest(h, entry)
    return h.hexdigest()


def _validate(source: SplitSource, bad: BadInput, report: SplitReport) -> tuple[set[int], int, bool]:
    """Pass 1: every label-level problem (parse errors, duplicates, missing images) before writing.
    Returns the bad positions, the sequence length, and whether any entry carries pose keypoints."""
    first_line: dict[str, tuple[Path, int]] = {}
    bad_positions: set[int] = set()
    any_pose = False
    position = -1
    for position, entry in enumerate(source.entries()):
        problem = None
        if isinstance(entry, Problem):
            problem = entry
        elif entry.image_name in first_line:
            file, line = first_line[entry.image_name]
            problem = Problem(entry.label_file, f"duplicate image name {entry.image_name!r} (first listed at "
                                                f"{file}:{line})", entry.line)
        elif not entry.image_path.is_file():
            problem = Problem(entry.label_file, f"listed image {entry.image_path} does not exist", entry.line)
        if problem is not None:
            bad.report(problem)
            bad_positions.add(position)
            report.skipped_rows += 1
            continue
        first_line[entry.image_name] = (entry.label_file, entry.line)
        if entry.pose_keypoints is not None and np.isfinite(entry.pose_keypoints[:, :2]).any():
            any_pose = True
    return bad_positions, position + 1, any_pose


def _chunks(source: SplitSource, bad_positions: set[int], shard_size: int) -> Iterator[tuple[int, int, list[Entry]]]:
    """(shard index, positions covered, good entries) for each shard-sized slice of the sequence."""
    index, chunk, covered = 0, [], 0
    for position, entry in enumerate(source.entries()):
        if position // shard_size != index:
            yield index, covered, chunk
            index, chunk, covered = position // shard_size, [], 0
        covered += 1
        if position not in bad_positions and isinstance(entry, Entry):
            chunk.append(entry)
    if covered:
        yield index, covered, chunk


def _write_shard(out: Path, split: str, index: int, entries: list[Entry], digest: str, source: str,
                 with_pose: bool, bad: BadInput, report: SplitReport, progress_bar) -> None:
    path = out / shard_name(split, index)
    writer: ShardWriter | None = None
    poses: list[np.ndarray] = []
    nan_pose = np.full((vocab.NUM_KEYPOINTS, 3), np.nan, np.float32)
    try:
        for entry in entries:
            progress_bar.update(1)
            try:
                image, fmt, transcoded = load_image(entry, writer.image_format if writer else None)
                if writer is None:  # the shard stores what its first image is (JPEG for other formats)
                    writer = ShardWriter(path, split, DEFAULT_IMAGE_FORMAT if transcoded else fmt,
                                         attrs={"source": source, "import_plan": digest})
                sample = Sample(image=image, image_name=entry.image_name, vehicle_id=entry.vehicle_id,
                                camera_id=entry.camera_id, color_id=entry.color_id, type_id=entry.type_id,
                                keypoints=entry.keypoints)
                try:
                    writer.append(sample)
                except ValueError:  # the writer decodes the bytes to record the image size
                    raise RowError("cannot decode image (corrupt or not an image)") from None
            except RowError as exc:
                bad.report(Problem(entry.image_path, f"{exc} (listed at {entry.where()})", kind="image"))
                report.skipped_images += 1
                continue
            report.transcoded += int(transcoded)
            poses.append(entry.pose_keypoints if entry.pose_keypoints is not None else nan_pose)
        if writer is None:
            return  # every image of this slice was bad: no shard (a re-run checks them again)
        if with_pose:  # the sidecar lands first: a complete shard always has its sidecar
            write_sidecar(sidecar_path(path), np.stack(poses), source=source)
        writer.close()
        writer = None
        report.written += len(poses)
        report.shards += 1
    finally:
        if writer is not None:
            writer.abort()


def _header_count(path: Path) -> int:
    return read_shard_header(path)["num_samples"]


def _check_stale(out: Path, split: str, num_chunks: int) -> None:
    for path in shard_files(out):
        if split_of(path) == split and int(path.name[len(split) + 1 : len(split) + 6]) >= num_chunks:
            raise DatasetError(path, f"shard beyond this import's {num_chunks} shards of split {split!r}: the output "
                                     "holds an import of a different list; use a fresh output directory")


def import_splits(
    out: str | Path,
    source: str,
    splits: list[SplitSource],
    shard_size: int = DEFAULT_SHARD_SIZE,
    skip_bad: bool = False,
    progress: bool = True,
    meta: dict | None = None,
    notes: list[str] | None = None,
    bad: BadInput | None = None,
) -> ImportReport:
    """Write each split as shards of `out`, resuming where an earlier run stopped. See the module docstring.
    `bad` carries problems an importer met before (reading label files), so one report counts them all."""
    from tqdm import tqdm

    if shard_size < 1:
        raise ValueError("shard_size must be >= 1")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    bad = bad if bad is not None else BadInput(skip_bad)
    report = ImportReport(out, source, notes=list(notes or []), skipped_label_items=sum(bad.counts.values()))
    plans = []
    for split in splits:  # pass 1 for all splits first: a bad gallery row stops the import before train is written
        split_report = report.splits.setdefault(split.split, SplitReport(split.split))
        bad_positions, length, any_pose = _validate(split, bad, split_report)
        split_report.listed = length
        split_report.pose_sidecars = any_pose
        plans.append((split, bad_positions, length, any_pose))
    manifest_meta = _manifest_meta(out, source, meta or {})
    for split, bad_positions, length, with_pose in plans:
        split_report = report.splits[split.split]
        num_chunks = -(-length // shard_size)
        _check_stale(out, split.split, num_chunks)
        with tqdm(total=length, desc=f"{source} {split.split}", unit="img", disable=not progress, leave=False) as bar:
            for index, covered, entries in _chunks(split, bad_positions, shard_size):
                digest = chunk_digest(entries, shard_size, index)
                path = out / shard_name(split.split, index)
                if is_complete_shard(path) and (not with_pose or is_complete_sidecar(sidecar_path(path), _header_count(path), ("keypoints",))):
                    with h5py.File(path, "r") as f:
                        planned = str(f.attrs.get("import_plan", ""))
                    if planned != digest:
                        raise DatasetError(path, "complete shard written from different labels or options (changed "
                                                 "label files, --shard-size or --val-ids?); use a fresh output directory")
                    count = _header_count(path)
                    split_report.resumed += count
                    split_report.skipped_images_earlier += len(entries) - count
                    split_report.shards += 1
                    bar.update(covered)
                    continue
                bar.update(covered - len(entries))
                _write_shard(out, split.split, index, entries, digest, source, with_pose, bad, split_report, bar)
                update_manifest(out, manifest_meta)
    report.examples = bad.examples
    manifest_meta["imports"] = {**manifest_meta.get("imports", {}), **report.as_dict()}
    update_manifest(out, manifest_meta)
    return report


def _manifest_meta(out: Path, source: str, meta: dict) -> dict:
    existing = read_manifest(out) if (out / MANIFEST_NAME).exists() else {}
    merged = {"source": source, **meta}
    if existing.get("source") not in (None, source):
        merged["source"] = "mixed"
    merged["imports"] = dict(existing.get("imports", {}))
    return merged
