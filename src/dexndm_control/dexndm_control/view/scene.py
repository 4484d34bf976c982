"""Joint positions (and targets, the object, the gap meter) -> Foxglove messages, the way
Foxglove draws a robot: the geometry once per link frame, the frames every tick.

JSON in the schemas of ``foxglove.SceneUpdate`` and ``foxglove.FrameTransforms``
(docs.foxglove.dev, message schemas). Each body of the hand is a frame (``palm``, ``if_bs``,
...) whose pose in the palm comes from the joint reading; the commanded targets are a second
set of frames (``targets/if_bs``, ...) carrying a translucent ghost of the same geometry; the
palm sits in ``world`` turned by the wrist orientation. The link geometry (collision boxes and
fingertip hulls, in their body frames) is sent once and again when it changes (gap-meter
colours) or a client may have joined; per tick only the transforms (~35) and the object move.
A link whose joint the gap meter names turns amber (WARN) or red (ERROR).
"""

from __future__ import annotations

import numpy as np

from dexndm_control.core.gap_levels import ERROR, LEVEL_NAMES, GapThresholds
from dexndm_control.hand import JOINT_NAMES
from dexndm_control.hand_model import HandKinematics
from dexndm_control.rotations import quat_to_matrix

FRAME = "palm"
WORLD = "world"
GHOST_PREFIX = "targets/"
HAND_COLOR = (0.62, 0.64, 0.68, 1.0)
TIP_COLOR = (0.92, 0.92, 0.92, 1.0)
GHOST_COLOR = (0.25, 0.65, 1.0, 0.22)
OBJECT_COLOR = (0.95, 0.55, 0.10, 1.0)
LEVEL_COLORS = {1: (1.0, 0.75, 0.0, 1.0), 2: (0.9, 0.1, 0.1, 1.0)}  # WARN, ERROR
DIGITS = 6  # metres and quaternion parts: a micrometre is below anything drawn


def _time(stamp_ns: int) -> dict:
    return {"sec": int(stamp_ns // 1_000_000_000), "nsec": int(stamp_ns % 1_000_000_000)}


def _color(rgba) -> dict:
    return dict(zip("rgba", (float(v) for v in rgba), strict=True))


def _vector(v) -> dict:
    return {"x": round(float(v[0]), DIGITS), "y": round(float(v[1]), DIGITS),
            "z": round(float(v[2]), DIGITS)}


def _quat(quat_wxyz) -> dict:
    w, x, y, z = (round(float(v), DIGITS) for v in quat_wxyz)
    return {"x": x, "y": y, "z": z, "w": w}


def _pose(position, quat_wxyz) -> dict:
    return {"position": _vector(position), "orientation": _quat(quat_wxyz)}


def _entity(entity_id: str, stamp_ns: int, frame: str = FRAME, **primitives) -> dict:
    entity = {"timestamp": _time(stamp_ns), "frame_id": frame, "id": entity_id,
              "lifetime": {"sec": 0, "nsec": 0}, "frame_locked": True, "metadata": []}
    for kind in ("arrows", "cubes", "spheres", "cylinders", "lines", "triangles", "texts",
                 "models"):
        entity[kind] = primitives.get(kind, [])
    return entity


def _transform(stamp_ns: int, parent: str, child: str, position, quat_wxyz) -> dict:
    return {"timestamp": _time(stamp_ns), "parent_frame_id": parent, "child_frame_id": child,
            "translation": _vector(position), "rotation": _quat(quat_wxyz)}


class HandScene:
    """Builds the hand's messages; the link geometry is computed once."""

    def __init__(self, kinematics: HandKinematics | None = None) -> None:
        self.kinematics = kinematics or HandKinematics()
        self.bodies = self.kinematics.body_names
        self._geoms_of_body = [[g for g in self.kinematics.geoms if g.body == b]
                               for b in range(len(self.bodies))]
        # a hull as its vertices once and triangles as indices (a fraction of the bytes)
        self._hulls = {}
        for geom in self.kinematics.geoms:
            if geom.kind == "mesh":
                flat = geom.triangles.reshape(-1, 3)
                vertices, indices = np.unique(flat.round(9), axis=0, return_inverse=True)
                self._hulls[geom.name] = ([_vector(v) for v in vertices],
                                          [int(i) for i in indices.ravel()])

    def _link_primitives(self, body: int, color, tip_color) -> dict:
        cubes, triangles = [], []
        for geom in self._geoms_of_body[body]:
            pose = _pose(geom.position, geom.quat)
            if geom.kind == "box":
                cubes.append({"pose": pose, "size": _vector(2.0 * geom.half_size),
                              "color": _color(color)})
            else:
                points, indices = self._hulls[geom.name]
                triangles.append({"pose": pose, "points": points, "color": _color(tip_color),
                                  "colors": [], "indices": indices})
        return {"cubes": cubes, "triangles": triangles}

    def geometry(self, stamp_ns: int, ghost: bool = True, joint_levels=None) -> dict:
        """The ``SceneUpdate`` with every link of the hand (and of the ghost), each in its own
        frame; links of joints at WARN / ERROR in the gap meter's colours."""
        entities = []
        for body, name in enumerate(self.bodies):
            joint = self.kinematics.joint_of_body[body]
            level = 0 if joint_levels is None or joint < 0 else int(joint_levels[joint])
            color = LEVEL_COLORS.get(level, HAND_COLOR)
            entities.append(_entity(f"hand/{name}", stamp_ns, name, **self._link_primitives(
                body, color, color if level else TIP_COLOR)))
            if ghost:
                entities.append(_entity(f"{GHOST_PREFIX}{name}", stamp_ns,
                                        GHOST_PREFIX + name, **self._link_primitives(
                                            body, GHOST_COLOR, GHOST_COLOR)))
        return {"deletions": [], "entities": entities}

    def transforms(self, stamp_ns: int, q, targets=None, wrist_quat=None) -> dict:
        """``FrameTransforms``: world -> palm (the wrist), palm -> every body at the reading,
        palm -> targets/<body> at the commanded targets (when given)."""
        out = [_transform(stamp_ns, WORLD, FRAME, (0.0, 0.0, 0.0),
                          (1.0, 0.0, 0.0, 0.0) if wrist_quat is None else wrist_quat)]
        for prefix, joints in (("", q), (GHOST_PREFIX, targets)):
            if joints is None:
                continue
            positions, quats = self.kinematics.body_poses(np.asarray(joints, dtype=float))
            for name, position, quat in zip(self.bodies, positions, quats, strict=True):
                if prefix or name != FRAME:  # the palm is the frame itself
                    out.append(_transform(stamp_ns, FRAME, prefix + name, position, quat))
        return {"transforms": out}


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


def gap_meter_record(level: int, rolling_mae, warn_threshold, error_threshold, error,
                     joints_out, offset, offset_warn_threshold, offset_error_threshold,
                     cap_delivered=None, cap_warn_share: float = 0.0,
                     cap_error_share: float = 0.0) -> dict:
    """A GapMeter message as a JSON record a Plot panel can address by joint name:
    ``ratio.<joint>`` is the largest of its motion error and |offset| over their warn thresholds
    and the torque cap's warn share over the share delivered (1 = WARN), ``cap_delivered_pct``
    the share of its current cap the motor delivered at cap (absent where not judged),
    ``joint_level`` is 0 / 1 / 2 (OK / WARN / ERROR) per joint, judged as the controller judges
    it (core/gap_levels.py)."""
    thresholds = GapThresholds(*(np.asarray(v, dtype=float) for v in (
        warn_threshold, error_threshold, offset_warn_threshold, offset_error_threshold)),
        source="message", cap_warn=float(cap_warn_share), cap_error=float(cap_error_share))
    rolling, offset = np.asarray(rolling_mae, dtype=float), np.asarray(offset, dtype=float)
    delivered = None if cap_delivered is None or not len(cap_delivered) \
        or cap_warn_share <= 0 else np.asarray(cap_delivered, dtype=float)  # 0: no check

    def by_joint(values, scale=1.0):
        return {n: scale * float(v) for n, v in zip(JOINT_NAMES, values, strict=True)}

    ratio = thresholds.ratio(rolling, offset, delivered)
    record = {"level": int(level), "level_name": LEVEL_NAMES[min(int(level), ERROR)],
              "joints_out": list(joints_out), "rolling_mae_mrad": by_joint(rolling, 1e3),
              "offset_mrad": by_joint(offset, 1e3), "error_mrad": by_joint(error, 1e3),
              "ratio": by_joint(np.minimum(ratio, 1e3)),  # a motor without torque: 1000, not inf
              "joint_level": {n: int(v) for n, v in zip(
                  JOINT_NAMES, thresholds.joint_levels(rolling, offset, delivered), strict=True)}}
    if delivered is not None:  # JSON has no NaN: joints not judged are left out
        record["cap_delivered_pct"] = {n: 100 * float(v) for n, v in zip(
            JOINT_NAMES, delivered, strict=True) if np.isfinite(v)}
    return record


def joint_levels(record: dict) -> np.ndarray:
    """Per joint 0 / 1 / 2 (OK / WARN / ERROR) from a gap meter record, for the link colours."""
    return np.array([record["joint_level"][n] for n in JOINT_NAMES])
