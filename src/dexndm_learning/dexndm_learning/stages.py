"""Resumable pipeline stages: each stage writes into its own directory and records, in
stage.json, the inputs it ran on (a digest of its settings and of the stages it depends on), the
commit, its wall time and its outputs. A stage whose record matches is skipped; ``--from STAGE``
reruns that stage and every one after it."""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from dexndm_control.errors import DexndmError
from dexndm_control.policy.bundle import git_commit

RECORD = "stage.json"


@dataclass(frozen=True)
class Stage:
    name: str
    settings: dict  # what the stage's result depends on, besides its upstream stages
    # writes into its directory and returns its outputs (JSON); gets every earlier stage's
    run: Callable[[Path, dict[str, dict]], dict]
    after: tuple[str, ...] = ()


def run_stages(stages: list[Stage], root: Path, start: str | None = None,
               progress=print) -> dict[str, dict]:
    """Run ``stages`` in order under ``root``; returns each stage's outputs."""
    names = [s.name for s in stages]
    if start is not None and start not in names:
        raise DexndmError(f"--from {start}: no such stage; stages are {', '.join(names)}")
    rerun = set(names[names.index(start):]) if start else set()
    digests: dict[str, str] = {}
    outputs: dict[str, dict] = {}
    for stage in stages:
        text = json.dumps({"settings": stage.settings,
                           "after": {name: digests[name] for name in stage.after}},
                          sort_keys=True, default=str)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        digests[stage.name] = digest
        directory = root / stage.name
        record_path = directory / RECORD
        if stage.name not in rerun and record_path.is_file():
            record = json.loads(record_path.read_text())
            if record.get("digest") == digest and record.get("status") == "done":
                progress(f"[{stage.name}] unchanged, skipped ({record['seconds']:.0f} s when "
                         "it ran)")
                outputs[stage.name] = record["outputs"]
                continue
        if directory.exists():
            shutil.rmtree(directory)  # never mix a stage's old and new outputs
        directory.mkdir(parents=True)
        progress(f"[{stage.name}] running")
        started = time.perf_counter()
        result = stage.run(directory, outputs)
        seconds = time.perf_counter() - started
        record = {"stage": stage.name, "digest": digest, "status": "done", "commit": git_commit(),
                  "seconds": round(seconds, 1), "settings": stage.settings,
                  "after": list(stage.after), "outputs": result}
        record_path.write_text(json.dumps(record, indent=2, default=str) + "\n")
        outputs[stage.name] = result
        progress(f"[{stage.name}] done in {seconds:.0f} s")
    return outputs
