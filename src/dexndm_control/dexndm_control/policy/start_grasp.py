"""Where a base policy starts an episode on the virtual hand or in a rendered episode: the object,
wrist and grasp its bundle names as ``initial_grasp`` (scripts/set_initial_grasp.py), under what
the user sets explicitly.

The controller ramps the hand to the bundle's ``initial_pose``, the target of that grasp; an
object placed in another grasp starts apart from the fingers (a cylinder then drops within
seconds). So the bundle is the one declaration of the start, and the virtual hand, `sim render`
and the launch files all resolve it here."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dexndm_control.policy.bundle_info import load_bundle_info

#: where a bundle that names no initial grasp starts
DEFAULT_CATEGORY, DEFAULT_OBJECT_INDEX, DEFAULT_WRIST = "cylinders", 0, "palm_up"


@dataclass(frozen=True)
class StartGrasp:
    category: str
    object_index: int
    wrist: str
    #: which grasp of the object's grasp search; None: the bundle names none for this object
    #: (the caller's default: the virtual hand grasp 0, a rendered episode a random one)
    grasp_index: int | None
    #: grasp search seed the bundle's grasp was found with (None: it names no grasp)
    seed: int | None = None


def read_initial_grasp(bundle: str | Path) -> dict | None:
    """A base_policy bundle's ``initial_grasp`` (None when it names none), its bundle.yaml
    checked as loading would check it; the weights are not loaded."""
    return load_bundle_info(bundle, "base_policy").get("initial_grasp") or None


def resolve_start_grasp(initial_grasp: dict | None, category: str | None = None,
                        object_index: int | None = None, wrist: str | None = None,
                        grasp_index: int | None = None) -> StartGrasp:
    """The start: what is given explicitly, the rest from ``initial_grasp``. The bundle's object
    stands only for its own category and its grasp only for its own object at its own wrist
    (another object's grasp N is another hand pose); else object 0, palm up, no grasp."""
    start = initial_grasp or {}
    if category is None:
        category = start.get("category", DEFAULT_CATEGORY)
    if wrist is None:
        wrist = start.get("wrist", DEFAULT_WRIST)
    if object_index is None:
        object_index = (start["object_index"] if "object_index" in start
                        and category == start.get("category") else DEFAULT_OBJECT_INDEX)
    own_grasp = (category == start.get("category") and object_index == start.get("object_index")
                 and wrist == start.get("wrist"))
    seed = start.get("seed", 0) if own_grasp else None
    if grasp_index is None and own_grasp:
        grasp_index = start.get("grasp_index")
    return StartGrasp(category, object_index, wrist, grasp_index, seed)
