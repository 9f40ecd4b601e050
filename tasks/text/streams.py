"""A split of a text corpus as one byte stream, held in memory or streamed from its
files (memory maps) or dataset rows; see ``tasks.text.corpus`` for the layout."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

SEPARATOR = 0  # NUL: the byte after every document
_READ = 1 << 20  # streamed passes read 1 MiB at a time


# --- splits --------------------------------------------------------------------------------


class Split:
    """One split's byte stream: its documents (keys, in order), length and digest."""

    documents: list[str]
    n_bytes: int  # documents and their separators
    sha256: str

    def windows(self, n: int, length: int, generator: torch.Generator) -> Tensor:
        """``(n, length)`` uint8: windows at uniformly random offsets of the stream."""
        offsets = torch.randint(0, self.n_bytes - length + 1, (n,), generator=generator)
        return self.gather(offsets[:, None] + torch.arange(length))  # (n, length)

    def gather(self, positions: Tensor) -> Tensor:
        """The bytes at ``positions`` of the stream (any shape), as uint8."""
        raise NotImplementedError

    def byte_counts(self) -> Tensor:
        """``(256,)`` int64: how often each byte occurs in the stream."""
        raise NotImplementedError


class MemorySplit(Split):
    def __init__(self, documents: list[tuple[str, bytes]]) -> None:
        self.documents = [key for key, _ in documents]
        stream = bytearray(b"".join(text + bytes([SEPARATOR]) for _, text in documents))
        self.n_bytes = len(stream)
        self.sha256 = hashlib.sha256(stream).hexdigest()
        self.data = (
            torch.frombuffer(stream, dtype=torch.uint8)
            if stream
            else torch.zeros(0, dtype=torch.uint8)
        )

    def gather(self, positions: Tensor) -> Tensor:
        return self.data[positions]

    def byte_counts(self) -> Tensor:
        return torch.bincount(self.data, minlength=256)


class StreamSplit(Split):
    """Reads its documents from a ``Source`` (files through memory maps, dataset rows)."""

    def __init__(self, source: Source, documents: list[Document]) -> None:
        self.source = source
        self.documents = [d.key for d in documents]
        self.units = torch.tensor([d.unit for d in documents], dtype=torch.long)
        self.offsets = torch.tensor([d.offset for d in documents], dtype=torch.long)
        self.lengths = torch.tensor([d.length for d in documents], dtype=torch.long)
        ends = torch.cumsum(self.lengths + 1, 0)  # each document and its separator
        self.starts = ends - self.lengths - 1  # where each document begins in the stream
        self.n_bytes = int(ends[-1]) if documents else 0
        digest = hashlib.sha256()
        for chunk in self._stream():
            digest.update(chunk)
        self.sha256 = digest.hexdigest()

    def _stream(self):
        for unit, offset, length in zip(
            self.units.tolist(), self.offsets.tolist(), self.lengths.tolist(), strict=True
        ):
            for start in range(offset, offset + length, _READ):
                yield self.source.read(unit, start, min(start + _READ, offset + length))
            yield bytes([SEPARATOR])

    def gather(self, positions: Tensor) -> Tensor:
        flat = positions.reshape(-1)
        doc = torch.searchsorted(self.starts, flat, right=True) - 1  # the document at each
        local = flat - self.starts[doc]
        inside = local < self.lengths[doc]  # else: the separator after the document
        unit, where = self.units[doc], self.offsets[doc] + local
        out = torch.full_like(flat, SEPARATOR, dtype=torch.uint8)
        for u in torch.unique(unit[inside]).tolist():  # one read per file (or row) touched
            mask = inside & (unit == u)
            out[mask] = torch.from_numpy(self.source.take(u, where[mask].numpy()))
        return out.view(positions.shape)

    def byte_counts(self) -> Tensor:
        counts = np.zeros(256, dtype=np.int64)
        for chunk in self._stream():
            counts += np.bincount(np.frombuffer(chunk, dtype=np.uint8), minlength=256)
        return torch.from_numpy(counts)


# --- sources of streamed documents ------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    key: str
    unit: int  # which file (or dataset row)
    offset: int  # where the document starts in it
    length: int


class Source:
    def read(self, unit: int, start: int, stop: int) -> bytes:
        raise NotImplementedError

    def take(self, unit: int, where: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class FileSource(Source):
    """Files read through memory maps; the last 64 stay open."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self._maps: OrderedDict[int, np.memmap] = OrderedDict()

    def _map(self, unit: int) -> np.memmap:
        if unit in self._maps:
            self._maps.move_to_end(unit)
        else:
            self._maps[unit] = np.memmap(self.paths[unit], dtype=np.uint8, mode="r")
            if len(self._maps) > 64:
                self._maps.popitem(last=False)
        return self._maps[unit]

    def read(self, unit: int, start: int, stop: int) -> bytes:
        return self._map(unit)[start:stop].tobytes()

    def take(self, unit: int, where: np.ndarray) -> np.ndarray:
        return np.asarray(self._map(unit)[where])


class RowSource(Source):
    """Rows of a Hugging Face dataset (Arrow files on disk, memory-mapped by ``datasets``)."""

    def __init__(self, dataset: Any, field: str) -> None:
        self.dataset, self.field = dataset, field

    def text(self, unit: int) -> bytes:
        return (self.dataset[unit][self.field] or "").encode("utf-8")

    def read(self, unit: int, start: int, stop: int) -> bytes:
        return self.text(unit)[start:stop]

    def take(self, unit: int, where: np.ndarray) -> np.ndarray:
        return np.frombuffer(self.text(unit), dtype=np.uint8)[where]
