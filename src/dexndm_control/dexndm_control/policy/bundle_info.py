"""A bundle's bundle.yaml, read and checked without loading its weights (no torch): what the
virtual hand needs of a base policy, and the first half of policy/bundle.py's load_bundle."""

from __future__ import annotations

from pathlib import Path

import yaml

from dexndm_control.errors import DexndmError
from dexndm_control.hand import JOINT_NAMES

FORMAT, VERSION = "dexndm-bundle", 1


class BundleError(DexndmError):
    pass


def load_bundle_info(path: str | Path, kind: str) -> dict:
    """bundle.yaml of the bundle at ``path``; refuses another format version, kind or joint
    order, naming what differs."""
    path = Path(path)
    info_file = path / "bundle.yaml"
    if not info_file.is_file():
        raise BundleError(f"{path} is not a bundle (no bundle.yaml); point to the directory a "
                          "`dexndm train ...` run exported")
    info = yaml.safe_load(info_file.read_text()) or {}
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise BundleError(f"{path}: bundle format {info.get('format')} v{info.get('version')}, "
                          f"this stack reads {FORMAT} v{VERSION}")
    if info.get("kind") != kind:
        raise BundleError(f"{path} is a '{info.get('kind')}' bundle, expected '{kind}'")
    if info.get("joint_names") != list(JOINT_NAMES):
        raise BundleError(f"{path}: joint order {info.get('joint_names')} differs from the "
                          f"model order {list(JOINT_NAMES)}: retrain or re-export the bundle")
    return info
