"""P x K identity batches (P identities, K images each), for the batch-hard triplet loss.

An epoch visits every identity's images in chunks of K (an identity with fewer than K images is padded by
drawing with replacement), and batches are formed by picking P identities at random among those with chunks
left, as torchreid's RandomIdentitySampler does. Identities are global dense indices, so samples from several
datasets (whose vehicle ids overlap) mix in one batch without being confused.

Under DDP every rank builds the same epoch from (seed, epoch) and keeps every world_size-th batch, all ranks
keeping the same number, so the ranks see disjoint P x K batches and stay in step.
"""
from __future__ import annotations

from typing import Iterator

import numpy as np
from torch.utils.data import Sampler


class PKBatchSampler(Sampler[list[int]]):
    """Batch sampler: yields lists of P*K dataset indices. Call `set_epoch(e)` before each epoch."""

    def __init__(
        self,
        identities: np.ndarray,
        p: int = 8,
        k: int = 4,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        identities = np.asarray(identities)
        if p < 1 or k < 1:
            raise ValueError(f"P and K must be >= 1, got P={p} K={k}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.p, self.k, self.seed, self.rank, self.world_size = p, k, seed, rank, world_size
        self.epoch = 0
        order = np.argsort(identities, kind="stable")
        ids, starts = np.unique(identities[order], return_index=True)
        self.members = np.split(order, starts[1:]) if len(order) else []
        self.identity_values = ids
        if len(self.members) < p:
            raise ValueError(f"P x K sampling needs at least P={p} identities, the data has {len(self.members)}")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _epoch_batches(self) -> list[list[int]]:
        rng = np.random.default_rng((self.seed, self.epoch))
        chunks: list[list[np.ndarray]] = []
        for members in self.members:
            picks = rng.choice(members, self.k, replace=True) if len(members) < self.k else rng.permutation(members)
            usable = len(picks) - len(picks) % self.k
            chunks.append([picks[i : i + self.k] for i in range(0, usable, self.k)])
        batches = []
        alive = [i for i, c in enumerate(chunks) if c]
        while len(alive) >= self.p:
            chosen = rng.choice(len(alive), self.p, replace=False)
            batch = []
            for j in chosen:
                batch.extend(int(x) for x in chunks[alive[j]].pop())
            batches.append(batch)
            alive = [i for i in alive if chunks[i]]
        return batches

    def __iter__(self) -> Iterator[list[int]]:
        batches = self._epoch_batches()
        per_rank = len(batches) // self.world_size
        yield from batches[self.rank : per_rank * self.world_size : self.world_size]

    def __len__(self) -> int:
        # The chunk count is fixed by the identity sizes; the batch count by how chunks pair up, which a
        # deterministic replay of this epoch gives exactly.
        return len(self._epoch_batches()) // self.world_size
