"""The LEAP hand's geometry: the model figures file and forward kinematics without a simulator.

``assets/leap_hand_model.yaml`` (MuJoCo Menagerie's `leap_hand`, MIT: bodies, joint axes and
ranges, inertials, box collision geoms, fingertip convex hulls) is the one description of the
hand's shape. The simulator builds its MuJoCo model from it; the live view computes link poses
from it here, so that drawing the real hand needs no simulator. Poses are in the palm frame.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
import yaml

from dexndm_control.hand import JOINT_NAMES
from dexndm_control.rotations import axis_angle_quat, quat_multiply, quat_to_matrix


@lru_cache(maxsize=1)
def hand_figures() -> dict:
    """The figures file, checked against the joint order of ``dexndm_control.hand``."""
    text = resources.files("dexndm_control.assets").joinpath("leap_hand_model.yaml").read_text()
    data = yaml.safe_load(text)
    if data["actuated_joint_order"] != list(JOINT_NAMES):
        raise RuntimeError("leap_hand_model.yaml joint order differs from dexndm_control.hand")
    return data


@dataclass(frozen=True)
class HandGeom:
    """One collision geom: a box (half sizes) or a convex hull (triangles, body frame)."""

    name: str
    body: int
    kind: str  # "box" or "mesh"
    position: np.ndarray  # in the body frame
    quat: np.ndarray  # (w, x, y, z), body frame
    half_size: np.ndarray | None = None
    triangles: np.ndarray | None = None  # [n, 3, 3] vertices, geom frame


class HandKinematics:
    """Body poses of the hand for a joint configuration (model order, rad), palm frame."""

    def __init__(self) -> None:
        data = hand_figures()
        bodies = data["bodies"]
        self.body_names = [b["name"] for b in bodies]
        index = {name: i for i, name in enumerate(self.body_names)}
        # the palm is the frame everything is drawn in: its own offset in the figures (the
        # Menagerie model's mount) does not apply
        self.parent = [index.get(b["parent"], -1) for b in bodies]
        self.local_position = np.array([[0.0] * 3 if b["parent"] == "world" else b["pos"]
                                        for b in bodies])
        self.local_quat = np.array([[1.0, 0, 0, 0] if b["parent"] == "world"
                                    else b.get("quat", [1.0, 0, 0, 0]) for b in bodies])
        classes = data["joint_classes"]
        self.joint_of_body = [JOINT_NAMES.index(b["joint"]["name"]) if "joint" in b else -1
                              for b in bodies]
        self.axis = np.array([classes[b["joint"]["class"]]["axis"] if "joint" in b else [0, 0, 1]
                              for b in bodies], dtype=float)
        self.geoms = [self._geom(g, i, data["meshes"]) for i, b in enumerate(bodies)
                      for g in b["collision_geoms"]]
        self._joint_index = np.array(self.joint_of_body)
        self._jointed = self._joint_index >= 0
        self._parent_index = np.array(self.parent)
        depth = [0] * len(self.parent)
        for i, parent in enumerate(self.parent):  # the figures list parents first
            depth[i] = 0 if parent < 0 else depth[parent] + 1
        self._levels = [np.flatnonzero(np.array(depth) == d) for d in range(max(depth) + 1)]

    @staticmethod
    def _geom(figure: dict, body: int, meshes: dict) -> HandGeom:
        position = np.asarray(figure.get("pos", [0.0, 0.0, 0.0]), dtype=float)
        quat = np.asarray(figure.get("quat", [1.0, 0.0, 0.0, 0.0]), dtype=float)
        if figure["type"] == "box":
            return HandGeom(figure["name"], body, "box", position, quat,
                            half_size=np.asarray(figure["size"], dtype=float))
        return HandGeom(figure["name"], body, "mesh", position, quat,
                        triangles=convex_hull_triangles(
                            np.asarray(meshes[figure["mesh"]]["convex_hull_vertices"])))

    def body_poses(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """World (palm-frame) positions [B, 3] and quaternions [B, 4] of every body."""
        q = np.asarray(q, dtype=float)
        angles = np.where(self._jointed, q[np.maximum(self._joint_index, 0)], 0.0)
        # each body's own pose in its parent, its hinge (at the body origin) turned to q
        local = quat_multiply(self.local_quat, axis_angle_quat(self.axis, angles))
        positions = np.zeros((len(self.parent), 3))
        quats = np.zeros((len(self.parent), 4))
        root = self._levels[0]
        positions[root], quats[root] = self.local_position[root], local[root]
        for level in self._levels[1:]:  # one batch per depth: parents are done before children
            parents = self._parent_index[level]
            positions[level] = positions[parents] + np.einsum(
                "bij,bj->bi", quat_to_matrix(quats[parents]), self.local_position[level])
            quats[level] = quat_multiply(quats[parents], local[level])
        return positions, quats

    def geom_poses(self, q: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Positions [G, 3] and quaternions [G, 4] of every geom in ``self.geoms``."""
        positions, quats = self.body_poses(q)
        body = np.array([g.body for g in self.geoms])
        rotation = quat_to_matrix(quats[body])
        local = np.stack([g.position for g in self.geoms])
        return (positions[body] + np.einsum("gij,gj->gi", rotation, local),
                quat_multiply(quats[body], np.stack([g.quat for g in self.geoms])))


def convex_hull_triangles(vertices: np.ndarray) -> np.ndarray:
    """The outward-facing triangles [n, 3, 3] of the convex hull of ``vertices``."""
    from scipy.spatial import ConvexHull

    hull = ConvexHull(vertices)
    triangles = vertices[hull.simplices]
    centre = vertices.mean(axis=0)
    normal = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
    inward = np.einsum("ij,ij->i", normal, triangles[:, 0] - centre) < 0
    triangles[inward] = triangles[inward][:, ::-1]
    return triangles
