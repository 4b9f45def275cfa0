"""The one data contract: a directory of HDF5 shards plus `dataset.yaml` (docs/FORMAT.md)."""
from synth.datasets.manifest import read_manifest, update_manifest
from synth.datasets.reader import ShardDataset
from synth.datasets.schema import SCHEMA_VERSION, DatasetError
from synth.datasets.writer import DatasetWriter, Sample, ShardWriter, decode_image, encode_image, write_samples

__all__ = [
    "SCHEMA_VERSION",
    "DatasetError",
    "DatasetWriter",
    "Sample",
    "ShardDataset",
    "ShardWriter",
    "decode_image",
    "encode_image",
    "read_manifest",
    "update_manifest",
    "write_samples",
]
