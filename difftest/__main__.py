"""``python -m difftest --seeds 0:500`` compares many seeds; ``--seed N --show`` prints one
scenario's Elixir and Python renderings and both traces side by side."""

from __future__ import annotations

import argparse
import sys

from . import harness
from .scenario import generate


def _seed_range(text: str) -> list[int]:
    first, sep, last = text.partition(":")
    if not sep:
        return [int(first)]
    return list(range(int(first), int(last)))


def _show(seed: int) -> int:
    scenario, beam, ours = harness.trace_pair(seed)
    print(f"=== scenario {seed}: Elixir rendering (with difftest/runtime.exs) ===")
    print(scenario.elixir())
    print(f"\n=== scenario {seed}: Python rendering (with difftest/runtime.py) ===")
    print(scenario.python())
    print("=== traces: BEAM | beamlet ===")
    width = max((len(x) for x in beam), default=0)
    same = True
    for i in range(max(len(beam), len(ours))):
        b = beam[i] if i < len(beam) else ""
        o = ours[i] if i < len(ours) else ""
        mark = " " if b == o else "!"
        same = same and b == o
        print(f"{mark} {b:<{width}} | {o}")
    print("\nsteps:")
    for n in range(1, len(scenario.steps) + 1):
        print(f"  {n}. {scenario.describe(n)}")
    print("\nsame" if same else "\nDIVERGES")
    return 0 if same else 1


def _compare(seeds: list[int], limit: int) -> int:
    report = harness.run(seeds)
    for d in report.divergences[:limit]:
        beam, ours = d.first()
        scenario = generate(d.seed)
        step = beam.split(" ", 1)[0]
        where = scenario.describe(int(step)) if step.isdigit() and \
            int(step) <= len(scenario.steps) else "end of scenario"
        print(f"seed {d.seed} (at {where}):\n    BEAM:    {beam}\n    beamlet: {ours}")
    if len(report.divergences) > limit:
        print(f"... and {len(report.divergences) - limit} more")
    print(f"{len(seeds)} seeds, {len(report.divergences)} diverge; beamlet "
          f"{report.python_seconds:.1f} s, BEAM {report.elixir_seconds:.1f} s (one elixir process,"
          f" in parallel), wall {report.wall_seconds:.1f} s")
    return 1 if report.divergences else 0


def _self_check(seeds: list[int], flags: str, limit: int) -> int:
    found = harness.beam_self_check(seeds, flags)
    for d in found[:limit]:
        a, b = d.first()
        print(f"seed {d.seed}:\n    +S 1:   {a}\n    {flags}: {b}")
    print(f"{len(seeds)} seeds, {len(found)} differ between the BEAM with +S 1 and with {flags}")
    return 1 if found else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m difftest", description=__doc__)
    parser.add_argument("--seeds", default="0:300", help="FIRST:LAST (LAST excluded), or one seed")
    parser.add_argument("--seed", type=int, help="one seed (with --show)")
    parser.add_argument("--show", action="store_true",
                        help="print the seed's renderings and both traces")
    parser.add_argument("--limit", type=int, default=30, help="divergences to print")
    parser.add_argument("--beam-self-check", metavar="FLAGS", nargs="?", const="+S 2",
                        help="compare the BEAM under +S 1 with the BEAM under FLAGS (default"
                             " '+S 2') instead of with beamlet: finds timing-dependent shapes")
    args = parser.parse_args(argv)
    if not harness.elixir_available():
        print("elixir is not on PATH (apt-get install -y erlang-nox elixir)", file=sys.stderr)
        return 2
    if args.beam_self_check:
        seeds = [args.seed] if args.seed is not None else _seed_range(args.seeds)
        return _self_check(seeds, args.beam_self_check, args.limit)
    if args.seed is not None:
        return _show(args.seed) if args.show else _compare([args.seed], args.limit)
    return _compare(_seed_range(args.seeds), args.limit)


if __name__ == "__main__":
    sys.exit(main())
