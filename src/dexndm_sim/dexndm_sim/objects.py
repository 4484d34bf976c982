"""Object sets of paper Table 14, generated procedurally and reproducibly.

Categories (training): normal cylinders, normal cuboids, long cuboids, small cylinders, irregular
shapes (convex hulls of random points, and compositions of boxes and capsules), plus a held-out
test set of unseen shapes (ellipsoids, capsule chains, lumpy hulls) with aspect ratio <= 2 as the
paper's ContactDB filter. Sizes are the table's minimum extents and aspect ratios after scaling;
mass (0.01-0.05 kg) and friction (0.3-3.0) are drawn per instance.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import mujoco
import numpy as np


@dataclass(frozen=True)
class Part:
    kind: str  # box (half sizes), cylinder (radius, half length), capsule, ellipsoid, mesh
    size: tuple[float, ...]
    pos: tuple[float, float, float] = (0.0, 0.0, 0.0)
    quat: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)
    vertices: tuple[tuple[float, float, float], ...] = ()


@dataclass(frozen=True)
class ObjectSpec:
    name: str
    category: str
    parts: tuple[Part, ...]
    mass: float = 0.03
    friction: float = 1.0
    extents: tuple[float, float, float] = (0.05, 0.05, 0.05)  # full size along x, y, z (m)

    @property
    def min_extent(self) -> float:
        return min(self.extents)

    @property
    def aspect_ratio(self) -> float:
        return max(self.extents) / min(self.extents)

    def with_physics(self, mass: float, friction: float) -> ObjectSpec:
        return replace(self, mass=float(mass), friction=float(friction))


@dataclass(frozen=True)
class Category:
    name: str
    count: int
    min_extent: tuple[float, float]
    aspect: tuple[float, float]
    scale: tuple[float, float]
    mass: tuple[float, float] = (0.01, 0.05)
    friction: tuple[float, float] = (0.3, 3.0)
    test: bool = False


# Table 14. min_extent is after scaling; the scale range widens each shape around it.
CATEGORIES: dict[str, Category] = {
    "cylinders": Category("cylinders", 9, (0.04, 0.04), (1.6, 2.4), (0.70, 0.86)),
    "cuboids": Category("cuboids", 9, (0.064, 0.064), (1.25, 1.5), (0.70, 0.86)),
    "long_cuboids": Category("long_cuboids", 4, (0.03, 0.04), (2.5, 6.67), (1.0, 1.0)),
    "small_cylinders": Category("small_cylinders", 9, (0.025, 0.025), (1.92, 2.56), (0.5, 0.6)),
    "irregular": Category("irregular", 120, (0.056, 0.115), (1.05, 2.0), (0.6, 0.7)),
    "test": Category("test", 26, (0.03, 0.09), (1.0, 2.0), (0.5, 0.6), test=True),
}
TRAINING_CATEGORIES = ("cylinders", "cuboids", "long_cuboids", "small_cylinders", "irregular")


def _normalise_extent(parts: list[Part], extents: np.ndarray, target_min: float
                      ) -> tuple[list[Part], np.ndarray]:
    factor = target_min / extents.min()
    scaled = []
    for part in parts:
        size = tuple(s * factor for s in part.size)
        verts = tuple(tuple(v * factor for v in vertex) for vertex in part.vertices)
        scaled.append(replace(part, size=size, pos=tuple(p * factor for p in part.pos),
                              vertices=verts))
    return scaled, extents * factor


def _hull(points: np.ndarray) -> tuple[Part, np.ndarray]:
    points = points - (points.max(0) + points.min(0)) / 2
    return Part("mesh", (1.0,), vertices=tuple(map(tuple, points))), points.max(0) - points.min(0)


def _shape(category: str, rng: np.random.Generator, aspect: float) -> tuple[list[Part],
                                                                             np.ndarray]:
    """One base shape (before scaling to the category's extent)."""
    if category in ("cylinders", "small_cylinders"):
        radius = 0.5
        half_length = aspect * radius  # length / diameter = aspect
        return [Part("cylinder", (radius, half_length))], np.array([1.0, 1.0, 2 * half_length])
    if category in ("cuboids", "long_cuboids"):
        middle = rng.uniform(1.0, aspect)
        extents = np.array([1.0, middle, aspect])
        return [Part("box", tuple(extents / 2))], extents
    if category == "irregular":
        if rng.random() < 0.5:  # convex hull of a stretched random point cloud
            points = rng.normal(size=(24, 3)) * np.array([1.0, rng.uniform(1.0, aspect), aspect])
            part, extents = _hull(points)
            return [part], extents
        parts = [Part("box", (0.5, 0.5 * rng.uniform(0.8, 1.2), 0.5 * aspect))]
        for _ in range(rng.integers(1, 4)):  # knobs: capsules stuck on the body
            offset = rng.uniform(-0.5, 0.5, 3) * np.array([1.0, 1.0, aspect])
            parts.append(Part("capsule", (0.25, 0.2), tuple(offset)))
        return parts, np.array([1.5, 1.5, aspect + 0.5])
    # unseen test shapes: ellipsoids, capsule chains, lumpy hulls
    family = rng.integers(3)
    if family == 0:
        radii = np.array([0.5, 0.5 * rng.uniform(1.0, aspect), 0.5 * aspect])
        return [Part("ellipsoid", tuple(radii))], 2 * radii
    if family == 1:
        parts = [Part("capsule", (0.5, 0.5 * (aspect - 1.0) + 0.01))]
        parts.append(Part("ellipsoid", (0.45, 0.6, 0.45), (0.0, 0.0, 0.5 * aspect - 0.3)))
        return parts, np.array([1.2, 1.2, aspect + 0.6])
    points = rng.normal(size=(40, 3))
    points /= np.linalg.norm(points, axis=1, keepdims=True)
    points *= rng.uniform(0.7, 1.0, (40, 1)) * np.array([1.0, 1.0, aspect])
    part, extents = _hull(points)
    return [part], extents


def object_names(category: str) -> list[str]:
    """The names ``generate_category`` gives the category's objects, whatever its seed."""
    return [f"{category}_{number:03d}" for number in range(CATEGORIES[category].count)]


def generate_category(name: str, seed: int = 0) -> list[ObjectSpec]:
    """The category's shapes (fixed by ``seed``), each at a random scale in the table's range."""
    category = CATEGORIES[name]
    rng = np.random.default_rng([seed, list(CATEGORIES).index(name)])
    objects = []
    aspects = np.linspace(*category.aspect, category.count) if category.count > 1 \
        else [np.mean(category.aspect)]
    for number, aspect in enumerate(aspects):
        parts, extents = _shape(name, rng, float(aspect))
        scale = rng.uniform(*category.scale) / np.mean(category.scale)
        target = rng.uniform(*category.min_extent) * scale
        parts, extents = _normalise_extent(parts, extents, target)
        objects.append(ObjectSpec(object_names(name)[number], name, tuple(parts),
                                  float(rng.uniform(*category.mass)),
                                  float(rng.uniform(*category.friction)),
                                  tuple(float(e) for e in extents)))
    return objects


def randomize_physics(spec: ObjectSpec, rng: np.random.Generator,
                      mass_range: tuple[float, float] | None = None,
                      friction_range: tuple[float, float] | None = None) -> ObjectSpec:
    """Mass and friction drawn from the category's Table 14 ranges (or the given ones)."""
    category = CATEGORIES[spec.category]
    return spec.with_physics(rng.uniform(*(mass_range or category.mass)),
                             rng.uniform(*(friction_range or category.friction)))


def add_object(mj_spec: mujoco.MjSpec, obj: ObjectSpec, pos=(0.0, 0.0, 0.3),
               name: str = "object") -> mujoco.MjsBody:
    body = mj_spec.worldbody.add_body(name=name, pos=pos)
    body.add_freejoint(name=f"{name}_free")
    part_mass = obj.mass / len(obj.parts)
    for index, part in enumerate(obj.parts):
        kwargs = {"name": f"{name}_geom{index}", "pos": part.pos, "quat": part.quat,
                  "mass": part_mass, "friction": [obj.friction, 0.005, 0.0001],
                  "condim": 4, "rgba": [0.85, 0.45, 0.1, 1.0]}
        if part.kind == "mesh":
            mesh_name = f"{name}_mesh{index}"
            mj_spec.add_mesh(name=mesh_name, uservert=np.asarray(part.vertices).ravel())
            body.add_geom(type=mujoco.mjtGeom.mjGEOM_MESH, meshname=mesh_name, **kwargs)
        else:
            geom_type = {"box": mujoco.mjtGeom.mjGEOM_BOX,
                         "cylinder": mujoco.mjtGeom.mjGEOM_CYLINDER,
                         "capsule": mujoco.mjtGeom.mjGEOM_CAPSULE,
                         "ellipsoid": mujoco.mjtGeom.mjGEOM_ELLIPSOID}[part.kind]
            size = list(part.size) + [0.0] * (3 - len(part.size))
            body.add_geom(type=geom_type, size=size, **kwargs)
    return body
