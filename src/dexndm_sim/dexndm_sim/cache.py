"""Where dexndm_sim keeps what it computes once (grasps, the compiled XC330 law)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """``$DEXNDM_CACHE``, else ``~/.cache/dexndm``."""
    return Path(os.environ.get("DEXNDM_CACHE", Path.home() / ".cache" / "dexndm"))
