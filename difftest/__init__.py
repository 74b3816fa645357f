"""Differential tester: random process scenarios run on the real BEAM and on beamlet, traces
compared. ``python -m difftest --seeds 0:500``; see difftest/README.md."""
