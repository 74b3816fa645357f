"""`difftest` lives at the repository's top level, beside `src/`, and is not an installed
package: make it importable however pytest is started (`pytest`, not only `python -m pytest`,
which adds the working directory)."""

import sys
from pathlib import Path

REPO_ROOT = str(Path(__file__).resolve().parents[2])
if REPO_ROOT not in sys.path:
    sys.path.insert(0, REPO_ROOT)
