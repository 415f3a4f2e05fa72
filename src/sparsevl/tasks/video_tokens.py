"""Where retrieval evaluation keeps every video's visual tokens while it scores captions.

The cross-encoder pairs a caption with a video's tokens (n_clips, Lv, hidden); evaluation encodes
each video once and keeps its tokens for every caption. Kept on the compute device, they take
videos x n_clips x Lv x hidden there: ActivityNet's ~5k videos at 96 frames do not fit a GPU.
With `retrieval.low_resource_eval` (the name of the TimeSformer + BERT retrieval suite's flag)
they are kept on the CPU and only the candidates being scored are moved to the device, so the
device holds the model and one batch of pairs whatever the number of videos.
"""

from __future__ import annotations

import torch

CPU = torch.device("cpu")


class VideoTokens:
    """Every encoded video's tokens, in the order they were added, on `home`: the CPU for a
    low-resource evaluation, else the compute `device`."""

    def __init__(self, device: torch.device, low_resource: bool):
        self.device = torch.device(device)
        self.home = CPU if low_resource else self.device
        self._parts: list[torch.Tensor] = []

    def add(self, tokens: torch.Tensor) -> None:
        """A batch of videos' tokens (B, n_clips, Lv, hidden), as the visual tower gave them."""
        self._parts.append(tokens.to(self.home))

    def __len__(self) -> int:
        return sum(len(p) for p in self._parts)

    def take(self, videos: torch.Tensor) -> torch.Tensor:
        """The tokens of `videos` (indices, repeats allowed) on the compute device."""
        self._join()
        return self._parts[0][videos.to(self.home)].to(self.device, non_blocking=True)

    def device_bytes(self) -> int:
        """Bytes of kept tokens that sit on the compute device (0 when they are kept on the CPU
        and the device is another one)."""
        return sum(p.nbytes for p in self._parts) if self.home == self.device else 0

    def _join(self) -> None:
        # one tensor, joined at the first look-up: indexing a list of batches would copy per batch
        if len(self._parts) > 1:
            self._parts = [torch.cat(self._parts)]
