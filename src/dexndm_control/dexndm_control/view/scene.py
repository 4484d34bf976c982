"""Joint positions (and targets, the object, the gap meter) -> Foxglove ``SceneUpdate`` messages.

The messages are JSON in the schema of ``foxglove.SceneUpdate`` (docs.foxglove.dev, message
schemas), drawn in the ``palm`` frame: the hand as its collision geometry (boxes, fingertip
hulls), the commanded targets as a translucent ghost of the same geometry, and the object's
geoms when the virtual hand reports them. A link whose joint the gap meter names turns amber
(WARN) or red (ERROR).
"""

from __future__ import annotations

import numpy as np

from dexndm_control.hand import JOINT_NAMES
from dexndm_control.hand_model import HandKinematics

FRAME = "palm"
WORLD = "world"
HAND_COLOR = (0.30, 0.32, 0.36, 1.0)
TIP_COLOR = (0.92, 0.92, 0.92, 1.0)
GHOST_COLOR = (0.25, 0.65, 1.0, 0.28)
OBJECT_COLOR = (0.95, 0.55, 0.10, 1.0)
LEVEL_COLORS = {1: (1.0, 0.75, 0.0, 1.0), 2: (0.9, 0.1, 0.1, 1.0)}  # WARN, ERROR


def _time(stamp_ns: int) -> dict:
    return {"sec": int(stamp_ns // 1_000_000_000), "nsec": int(stamp_ns % 1_000_000_000)}


def _color(rgba) -> dict:
    return dict(zip("rgba", (float(v) for v in rgba), strict=True))


def _vector(v) -> dict:
    return {"x": float(v[0]), "y": float(v[1]), "z": float(v[2])}


def _pose(position, quat_wxyz) -> dict:
    w, x, y, z = (float(v) for v in quat_wxyz)
    return {"position": _vector(position), "orientation": {"x": x, "y": y, "z": z, "w": w}}


def _entity(entity_id: str, stamp_ns: int, **primitives) -> dict:
    entity = {"timestamp": _time(stamp_ns), "frame_id": FRAME, "id": entity_id,
              "lifetime": {"sec": 0, "nsec": 0}, "frame_locked": True, "metadata": []}
    for kind in ("arrows", "cubes", "spheres", "cylinders", "lines", "triangles", "texts",
                 "models"):
        entity[kind] = primitives.get(kind, [])
    return entity


class HandScene:
    """Builds the scene messages; the fingertip hulls' points are computed once."""

    def __init__(self, kinematics: HandKinematics | None = None) -> None:
        self.kinematics = kinematics or HandKinematics()
        geoms = self.kinematics.geoms
        self._boxes = [i for i, g in enumerate(geoms) if g.kind == "box"]
        self._meshes = [i for i, g in enumerate(geoms) if g.kind == "mesh"]
        self._box_size = [_vector(2.0 * geoms[i].half_size) for i in self._boxes]
        self._mesh_points = [[_vector(p) for p in geoms[i].triangles.reshape(-1, 3)]
                             for i in self._meshes]
        # the joint that moves each geom's body (-1: the palm), for the gap meter's colours
        self._joint_of_geom = np.array([self.kinematics.joint_of_body[g.body] for g in geoms])

    def hand_entity(self, entity_id: str, stamp_ns: int, q, color=HAND_COLOR, tip_color=TIP_COLOR,
                    joint_levels=None) -> dict:
        positions, quats = self.kinematics.geom_poses(np.asarray(q, dtype=float))
        colors = [color] * len(positions)
        if joint_levels is not None:
            for geom, joint in enumerate(self._joint_of_geom):
                if joint >= 0 and int(joint_levels[joint]) in LEVEL_COLORS:
                    colors[geom] = LEVEL_COLORS[int(joint_levels[joint])]
        cubes = [{"pose": _pose(positions[i], quats[i]), "size": size, "color": _color(colors[i])}
                 for i, size in zip(self._boxes, self._box_size, strict=True)]
        triangles = [{"pose": _pose(positions[i], quats[i]), "points": points,
                      "color": _color(tip_color if colors[i] == color else colors[i]),
                      "colors": [], "indices": []}
                     for i, points in zip(self._meshes, self._mesh_points, strict=True)]
        return _entity(entity_id, stamp_ns, cubes=cubes, triangles=triangles)

    def update(self, stamp_ns: int, q, targets=None, object_geoms=None,
               joint_levels=None) -> dict:
        """One ``foxglove.SceneUpdate`` (JSON) replacing the hand, the ghost and the object."""
        entities = [self.hand_entity("hand", stamp_ns, q, joint_levels=joint_levels)]
        if targets is not None:
            entities.append(self.hand_entity("targets", stamp_ns, targets, GHOST_COLOR,
                                             GHOST_COLOR))
        if object_geoms:
            entities.append(object_entity(stamp_ns, object_geoms))
        return {"deletions": [], "entities": entities}


def object_entity(stamp_ns: int, geoms: list[dict]) -> dict:
    """The object from the virtual hand's geoms (``{"cmd": "object", "shape": true}``: type,
    MuJoCo size, palm-frame position and quaternion; a mesh's triangles in its geom frame)."""
    primitives: dict[str, list] = {"cubes": [], "spheres": [], "cylinders": [], "triangles": []}
    color = _color(OBJECT_COLOR)
    for geom in geoms:
        kind, size = geom["type"], np.asarray(geom["size"], dtype=float)
        pose = _pose(geom["pos"], geom["quat"])
        if kind == "box":
            primitives["cubes"].append({"pose": pose, "size": _vector(2 * size), "color": color})
        elif kind in ("sphere", "ellipsoid"):
            radii = size[:3] if kind == "ellipsoid" else np.full(3, size[0])
            primitives["spheres"].append({"pose": pose, "size": _vector(2 * radii),
                                          "color": color})
        elif kind in ("cylinder", "capsule"):
            radius, half = size[0], size[1]
            primitives["cylinders"].append({"pose": pose, "size": _vector([2 * radius,
                                                                           2 * radius, 2 * half]),
                                            "bottom_scale": 1.0, "top_scale": 1.0,
                                            "color": color})
            if kind == "capsule":  # the two caps, along the geom's z axis
                from dexndm_control.rotations import quat_to_matrix

                axis = quat_to_matrix(np.asarray(geom["quat"]))[:, 2]
                for sign in (-1.0, 1.0):
                    centre = np.asarray(geom["pos"]) + sign * half * axis
                    primitives["spheres"].append({"pose": _pose(centre, geom["quat"]),
                                                  "size": _vector([2 * radius] * 3),
                                                  "color": color})
        elif kind == "mesh" and geom.get("triangles"):
            primitives["triangles"].append({
                "pose": pose, "points": [_vector(p) for p in np.reshape(geom["triangles"],
                                                                        (-1, 3))],
                "color": color, "colors": [], "indices": []})
    return _entity("object", stamp_ns, **primitives)


def frame_transform(stamp_ns: int, wrist_quat) -> dict:
    """``foxglove.FrameTransform`` world -> palm: the hand upright in the world's display."""
    w, x, y, z = (float(v) for v in wrist_quat)
    return {"timestamp": _time(stamp_ns), "parent_frame_id": WORLD, "child_frame_id": FRAME,
            "translation": {"x": 0.0, "y": 0.0, "z": 0.0},
            "rotation": {"x": x, "y": y, "z": z, "w": w}}


def gap_meter_record(level: int, rolling_mae, warn_threshold, error_threshold, error,
                     joints_out) -> dict:
    """A GapMeter message as a JSON record a Plot panel can address by joint name:
    ``ratio.<joint>`` is the rolling error over its warn threshold (1 = WARN), ``joint_level``
    is 0 / 1 / 2 (OK / WARN / ERROR) per joint."""
    rolling = np.asarray(rolling_mae, dtype=float)
    warn = np.asarray(warn_threshold, dtype=float)
    over_error = rolling >= np.asarray(error_threshold, dtype=float)
    ratio = np.divide(rolling, warn, out=np.zeros_like(rolling), where=warn > 0)
    levels = np.where(over_error, 2, np.where(ratio >= 1.0, 1, 0))

    def by_joint(values, scale=1.0):
        return {n: scale * float(v) for n, v in zip(JOINT_NAMES, values, strict=True)}

    return {"level": int(level), "level_name": ("OK", "WARN", "ERROR")[min(int(level), 2)],
            "joints_out": list(joints_out), "rolling_mae_mrad": by_joint(rolling, 1e3),
            "error_mrad": by_joint(error, 1e3), "ratio": by_joint(ratio),
            "joint_level": {n: int(v) for n, v in zip(JOINT_NAMES, levels, strict=True)}}


def joint_levels(record: dict) -> np.ndarray:
    """Per joint 0 / 1 / 2 (OK / WARN / ERROR) from a gap meter record, for the link colours."""
    return np.array([record["joint_level"][n] for n in JOINT_NAMES])
