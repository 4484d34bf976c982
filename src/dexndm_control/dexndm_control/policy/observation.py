"""The generalist policy's observation, built one way for training and deployment.

o_t = [q_{t-T+1..t} (T x 16), a_{t-T..t-1} (T x 16), wrist quaternion (w, x, y, z), rotation
axis (x, y, z)], histories oldest first, joints in model order (paper section 3.2, T = 10).
Training code imports this module; the controller builds its observation with it too, so the two
can never disagree. The layout is saved in every bundle and checked when one is loaded.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from dexndm_control.errors import DexndmError
from dexndm_control.hand import NUM_JOINTS

LAYOUT_VERSION = 1


@dataclass(frozen=True)
class ObservationLayout:
    history: int = 10
    joints: int = NUM_JOINTS
    version: int = LAYOUT_VERSION

    def __post_init__(self) -> None:
        if self.history < 1:
            raise DexndmError(f"observation history must be >= 1, got {self.history}")

    @property
    def groups(self) -> list[tuple[str, int]]:
        """(name, size) of each group, in order."""
        return [("joint_positions", self.history * self.joints),
                ("previous_targets", self.history * self.joints),
                ("wrist_quat", 4), ("rotation_axis", 3)]

    @property
    def size(self) -> int:
        return sum(size for _, size in self.groups)

    def slices(self) -> dict[str, slice]:
        out, start = {}, 0
        for name, size in self.groups:
            out[name] = slice(start, start + size)
            start += size
        return out

    def to_dict(self) -> dict:
        return {**asdict(self), "groups": [list(g) for g in self.groups]}

    @classmethod
    def from_dict(cls, data: dict) -> ObservationLayout:
        layout = cls(history=int(data["history"]), joints=int(data["joints"]),
                     version=int(data["version"]))
        if [list(g) for g in layout.groups] != [list(g) for g in data["groups"]]:
            raise DexndmError(f"observation layout groups {data['groups']} differ from this "
                              f"version's {layout.groups}: the bundle was made by another "
                              "version of the stack")
        return layout

    def build(self, q_history, target_history, wrist_quat, axis):
        """Batched observation from arrays (numpy or torch, same kind for all):
        q_history [..., T, 16], target_history [..., T, 16] (a_{k-1} for each k),
        wrist_quat [..., 4], axis [..., 3] -> [..., size]."""
        lead = q_history.shape[:-2]
        if tuple(q_history.shape[-2:]) != (self.history, self.joints) or \
                tuple(target_history.shape[-2:]) != (self.history, self.joints):
            raise DexndmError(f"histories must be [..., {self.history}, {self.joints}], got "
                              f"{tuple(q_history.shape)} and {tuple(target_history.shape)}")
        parts = [q_history.reshape(*lead, -1), target_history.reshape(*lead, -1),
                 wrist_quat, axis]
        if isinstance(q_history, np.ndarray):
            return np.concatenate(parts, axis=-1)
        import torch
        return torch.cat(parts, dim=-1)
