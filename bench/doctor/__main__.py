"""``python -m bench.doctor``: the doctor without the seqbench CLI (what
``scripts/gpu_check.sh`` runs)."""

import sys

from . import main

if __name__ == "__main__":
    sys.exit(main())
