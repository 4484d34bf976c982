"""The one home of rotations: hand-computed values, round trips, batching."""

from __future__ import annotations

import math

import numpy as np

from dexndm_control.rotations import (
    axis_angle_quat,
    matrix_to_quat,
    quat_conjugate,
    quat_multiply,
    quat_to_matrix,
    world_to_hand,
)

Z90 = np.array([math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)])  # 90 deg about z


def test_hand_computed_matrices_and_products():
    np.testing.assert_allclose(quat_to_matrix(Z90), [[0, -1, 0], [1, 0, 0], [0, 0, 1]],
                               atol=1e-12)
    np.testing.assert_allclose(quat_to_matrix(2.0 * Z90), quat_to_matrix(Z90))  # normalised
    np.testing.assert_allclose(quat_multiply(Z90, Z90), [0, 0, 0, 1], atol=1e-12)  # 180 deg
    np.testing.assert_allclose(axis_angle_quat(np.array([0.0, 0.0, 1.0]), math.pi / 2), Z90)
    np.testing.assert_allclose(quat_multiply(Z90, quat_conjugate(Z90)), [1, 0, 0, 0],
                               atol=1e-12)


def test_matrix_to_quat_inverts_quat_to_matrix_at_every_angle():
    rng = np.random.default_rng(0)
    quats = rng.normal(size=(200, 4))
    quats /= np.linalg.norm(quats, axis=1, keepdims=True)
    quats *= np.sign(quats[:, :1])  # w >= 0, the sign matrix_to_quat returns
    matrices = quat_to_matrix(quats)
    assert matrices.shape == (200, 3, 3)
    for quat, matrix in zip(quats, matrices, strict=True):
        np.testing.assert_allclose(matrix_to_quat(matrix), quat, atol=1e-9)
    np.testing.assert_allclose(matrix_to_quat(quat_to_matrix([0.0, 1.0, 0.0, 0.0])),
                               [0, 1, 0, 0], atol=1e-12)  # 180 deg: the w = 0 branch


def test_world_to_hand_for_the_canonical_wrists():
    palm_up = np.array([0.0, 1.0, 0.0, 0.0])  # 180 deg about x
    np.testing.assert_allclose(world_to_hand([0.0, 0.0, 1.0], palm_up), [0, 0, -1], atol=1e-12)
    np.testing.assert_allclose(world_to_hand([0.0, 1.0, 0.0], palm_up), [0, -1, 0], atol=1e-12)
    batched = world_to_hand(np.tile([1.0, 0.0, 0.0], (3, 1)), np.stack([palm_up, Z90, Z90]))
    np.testing.assert_allclose(batched, [[1, 0, 0], [0, -1, 0], [0, -1, 0]], atol=1e-12)
