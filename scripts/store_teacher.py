#!/usr/bin/env python3
"""Store a PPO teacher checkpoint under policies/: actor and critic without the optimizer
state, at fp32 or fp16, with its env.yaml and run.yaml (and an averaged teacher's
averaged_from.yaml; dexndm_learning/ppo/storage.py).

  .venv/bin/python scripts/store_teacher.py RUN/model_360.pt --out policies/long_cuboids_issue \
      --precision fp16

Prints one JSON line: sizes and the actor's largest mean-action difference to the checkpoint
on 4,096 random observations (an action moves the target by 1/24 of itself).
"""

from __future__ import annotations

import argparse
import json
import sys

from dexndm_control.errors import DexndmError
from dexndm_learning.ppo.storage import store_checkpoint


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", help="RUN/model_N.pt of `dexndm train ppo`")
    parser.add_argument("--out", required=True, help="directory (e.g. policies/NAME)")
    parser.add_argument("--precision", default="fp32", choices=("fp32", "fp16"))
    args = parser.parse_args()
    try:
        print(json.dumps(store_checkpoint(args.checkpoint, args.out, args.precision)))
    except DexndmError as error:
        print(f"store_teacher: error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
