"""The LEAP right hand built in code with mujoco.MjSpec from the figures file
(dexndm_control/assets/leap_hand_model.yaml).

The figures (bodies, joint axes and ranges, inertials, box collision geoms, fingertip convex hulls,
contact excludes, defaults) are MuJoCo Menagerie's `leap_hand` (MIT); visual meshes are omitted.
Joint order = model order (dexndm_control.hand). The palm's orientation in the world is a
parameter (the wrist orientation); the hardware profile decides how joints are actuated.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import mujoco
import numpy as np

from dexndm_control.hand import JOINT_NAMES, LOWER, UPPER
from dexndm_control.hand_model import hand_figures

PALM_POSITION = (0.0, 0.0, 0.5)  # palm origin in the world (m); the floor is at z = 0


def figures() -> dict:
    """The hand's figures file (one copy, owned by dexndm_control: the live view draws from it)."""
    return hand_figures()


@dataclass(frozen=True)
class SolverPreset:
    name: str
    cone: int
    impratio: float
    iterations: int
    ls_iterations: int
    self_collision: bool
    solver: int = mujoco.mjtSolver.mjSOL_NEWTON


PRESETS = {
    "fast": SolverPreset("fast", mujoco.mjtCone.mjCONE_PYRAMIDAL, 1.0, 20, 10, False),
    "accurate": SolverPreset("accurate", mujoco.mjtCone.mjCONE_ELLIPTIC, 100.0, 100, 50, True),
}
TIMESTEP = 1.0 / 120.0  # 6 physics steps per 20 Hz control step


def add_hand(spec: mujoco.MjSpec, wrist_quat: tuple[float, float, float, float],
             self_collision: bool = True, palm_position=PALM_POSITION) -> None:
    """Add the hand's bodies, joints, geoms and excludes under the world body of ``spec``."""
    data = figures()
    defaults = data["defaults"]
    spec.compiler.degree = False  # the figures are in radians
    for name, mesh in data["meshes"].items():
        spec.add_mesh(name=name, uservert=np.asarray(mesh["convex_hull_vertices"]).ravel())
    bodies = {"world": spec.worldbody}
    for entry in data["bodies"]:
        parent = bodies[entry["parent"]]
        is_palm = entry["name"] == "palm"
        body = parent.add_body(name=entry["name"],
                               pos=palm_position if is_palm else entry["pos"],
                               quat=wrist_quat if is_palm else entry.get("quat", [1, 0, 0, 0]))
        inertial = entry["inertial"]
        body.ipos, body.iquat = inertial["pos"], inertial["quat"]
        body.mass = inertial["mass"]
        body.inertia = inertial["diaginertia"]
        body.explicitinertial = True
        if "joint" in entry:
            joint_class = data["joint_classes"][entry["joint"]["class"]]
            body.add_joint(name=entry["joint"]["name"], type=mujoco.mjtJoint.mjJNT_HINGE,
                           axis=joint_class["axis"], range=joint_class["range"],
                           limited=mujoco.mjtLimited.mjLIMITED_TRUE,
                           damping=[defaults["joint"]["damping"], 0.0, 0.0],
                           frictionloss=defaults["joint"]["frictionloss"])
        for geom in entry["collision_geoms"]:
            tip = geom["type"] == "mesh"
            kwargs = {"name": geom["name"], "pos": geom.get("pos", [0, 0, 0]),
                      "quat": geom.get("quat", [1, 0, 0, 0]),
                      "friction": [defaults["geom"]["tip_friction" if tip else "friction"],
                                   0.005, 0.0001],
                      "solimp": defaults["geom"]["solimp"], "solref": defaults["geom"]["solref"],
                      "contype": 1, "conaffinity": 1 if self_collision else 0,
                      "group": 3, "rgba": [0.2, 0.2, 0.2, 1]}
            if tip:
                kwargs.update(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=geom["mesh"],
                              rgba=[0.9, 0.9, 0.9, 1])
            else:
                kwargs.update(type=mujoco.mjtGeom.mjGEOM_BOX, size=geom["size"])
            body.add_geom(**kwargs)
        bodies[entry["name"]] = body
    for first, second in data["contact_excludes"]:
        spec.add_exclude(bodyname1=first, bodyname2=second)


@lru_cache(maxsize=1)
def hand_reach(samples: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """The palm-frame box (low and high corners, m, from the palm origin) that the hand's
    geoms stay inside over its joint ranges: the corners of their bounding boxes at the range
    limits and at ``samples`` seeded random joint configurations."""
    spec = mujoco.MjSpec()
    add_hand(spec, (1.0, 0.0, 0.0, 0.0), palm_position=(0.0, 0.0, 0.0))
    model = spec.compile()
    data = mujoco.MjData(model)
    address = [int(model.joint(name).qposadr[0]) for name in JOINT_NAMES]
    configurations = np.concatenate([[LOWER, UPPER], np.random.default_rng(0).uniform(
        LOWER, UPPER, (samples, len(JOINT_NAMES)))])
    # the corners of each geom's local bounding box (geom_aabb: centre, half sizes)
    signs = np.array(np.meshgrid([-1, 1], [-1, 1], [-1, 1])).reshape(3, -1).T  # [8, 3]
    aabb = model.geom_aabb.reshape(-1, 2, 3)
    corners = aabb[:, None, 0] + signs[None] * aabb[:, None, 1]  # [ngeom, 8, 3]
    low, high = np.full(3, np.inf), np.full(3, -np.inf)
    for q in configurations:
        data.qpos[address] = q
        mujoco.mj_kinematics(model, data)
        rotation = data.geom_xmat.reshape(-1, 3, 3)
        world = data.geom_xpos[:, None] + np.einsum("gij,gkj->gki", rotation, corners)
        low = np.minimum(low, world.reshape(-1, 3).min(axis=0))
        high = np.maximum(high, world.reshape(-1, 3).max(axis=0))
    return low, high
