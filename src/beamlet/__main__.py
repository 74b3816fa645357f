"""``python -m beamlet COMMAND``: the package's command-line tools.

Commands: ``top TARGET`` (the processes of a node, live, in a terminal; see
`beamlet.observe.top`).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    """Dispatch to a command; usage on stderr and status 2 for an unknown one."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "top":
        from beamlet.observe import top
        return top.main(args[1:])
    print("usage: python -m beamlet top TARGET   (the processes of a node, live)",
          file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
