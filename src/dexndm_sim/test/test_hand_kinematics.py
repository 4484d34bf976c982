"""The live view's forward kinematics (dexndm_control.hand_model, no simulator) agrees with
MuJoCo's on the same figures: every box geom's pose and every fingertip hull vertex."""

from __future__ import annotations

import mujoco
import numpy as np

from dexndm_control.hand import JOINT_NAMES, LOWER, UPPER
from dexndm_control.hand_model import HandKinematics
from dexndm_control.rotations import quat_to_matrix
from dexndm_sim.model import add_hand


def test_geom_poses_match_mujoco_at_random_configurations():
    spec = mujoco.MjSpec()
    add_hand(spec, (1.0, 0.0, 0.0, 0.0), palm_position=(0.0, 0.0, 0.0))
    model = spec.compile()
    data = mujoco.MjData(model)
    kinematics = HandKinematics()
    address = [int(model.joint(name).qposadr[0]) for name in JOINT_NAMES]
    assert len(kinematics.geoms) == model.ngeom == 71
    for q in np.random.default_rng(0).uniform(LOWER, UPPER, (10, len(JOINT_NAMES))):
        data.qpos[address] = q
        mujoco.mj_kinematics(model, data)
        positions, quats = kinematics.geom_poses(q)
        rotations = quat_to_matrix(quats)
        for geom, position, rotation in zip(kinematics.geoms, positions, rotations, strict=True):
            ident = model.geom(geom.name).id
            mujoco_rotation = data.geom_xmat[ident].reshape(3, 3)
            if geom.kind == "box":
                np.testing.assert_allclose(position, data.geom_xpos[ident], atol=1e-9)
                np.testing.assert_allclose(rotation, mujoco_rotation, atol=1e-9)
                np.testing.assert_allclose(geom.half_size, model.geom_size[ident], atol=1e-12)
                continue
            # MuJoCo moves a mesh's frame to its centre of mass; compare the vertices instead
            mesh = model.geom_dataid[ident]
            start, count = model.mesh_vertadr[mesh], model.mesh_vertnum[mesh]
            theirs = data.geom_xpos[ident] + model.mesh_vert[start:start + count] @ \
                mujoco_rotation.T
            ours = position + geom.triangles.reshape(-1, 3) @ rotation.T
            # every hull vertex MuJoCo keeps is one of ours, to float32 precision (mesh_vert)
            distance = np.linalg.norm(theirs[:, None] - ours[None], axis=-1).min(axis=1)
            assert distance.max() < 1e-6, (geom.name, distance.max())


def test_hull_triangles_face_outward():
    kinematics = HandKinematics()
    for geom in (g for g in kinematics.geoms if g.kind == "mesh"):
        triangles = geom.triangles
        centre = triangles.reshape(-1, 3).mean(axis=0)
        normal = np.cross(triangles[:, 1] - triangles[:, 0], triangles[:, 2] - triangles[:, 0])
        assert (np.einsum("ij,ij->i", normal, triangles[:, 0] - centre) > 0).all()
