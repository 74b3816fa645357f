"""The tester's own rules: what it reorders and how it prints terms (pure functions)."""

from hypothesis import given, strategies as st

from beamlet import Down, Exit, NoProc, Pid, Ref
from difftest.runtime import canonical_order, render

PIDS = [Pid(None, 900 + i) for i in range(3)]
REFS = [Ref() for _ in range(10)]
LABELS = {**{p: f"p{i}" for i, p in enumerate(PIDS, 1)},
          **{r: f"r{i}" for i, r in enumerate(REFS)}}

messages = st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["m", "exit", "down"]),
                              st.integers(0, 9)), max_size=12)


def _build(spec):
    return [{"m": ("m", PIDS[s], n), "exit": Exit(PIDS[s], n), "down": Down(REFS[n], PIDS[s], n)}
            [kind] for s, kind, n in spec]


def _shape(msgs, sender):
    """One sender's messages, each run of Downs shown only by its length: what the canonical
    order must keep."""
    out = []
    for m in msgs:
        if (m[1] if m[0] == "m" else m.pid) is not sender:
            continue
        if type(m) is Down:
            out[-1:] = [out[-1] + 1] if out and type(out[-1]) is int else out[-1:] + [1]
        else:
            out.append(m)
    return out


@given(messages)
def test_each_senders_order_is_kept_and_the_result_is_canonical(spec):
    msgs = _build(spec)
    out = canonical_order(msgs, LABELS)
    assert sorted(map(repr, out)) == sorted(map(repr, msgs))
    for p in PIDS:
        assert _shape(out, p) == _shape(msgs, p)
    assert canonical_order(out, LABELS) == out


@given(messages, st.randoms())
def test_interleaving_across_senders_does_not_matter(spec, rnd):
    msgs = _build(spec)
    shuffled = sorted(msgs, key=lambda m: rnd.random())
    # re-impose each sender's own order on the shuffle: only the interleaving changes
    queues = {p: [m for m in msgs if (m[1] if m[0] == "m" else m.pid) is p] for p in PIDS}
    interleaved = [queues[m[1] if m[0] == "m" else m.pid].pop(0) for m in shuffled]
    assert canonical_order(interleaved, LABELS) == canonical_order(msgs, LABELS)


def test_render_prints_terms_as_the_elixir_runtime_does():
    p, r = PIDS[0], REFS[1]
    assert render(("shutdown", ["a", 1], None, True), LABELS) == "{shutdown,[a,1],nil,true}"
    assert render(Exit(p, "boom"), LABELS) == "{EXIT,#p1,boom}"
    assert render(Down(r, ("n1", "nonode@nohost"), "noproc"), LABELS) == \
        "{DOWN,#r1,process,{n1,nonode@nohost},noproc}"
    assert render(RuntimeError("boom3"), LABELS) == "raise(RuntimeError,boom3)"
    assert render(NoProc("x"), LABELS) == "error(noproc)"
    assert render(ValueError("taken"), LABELS) == "error(badarg)"
    assert render(Pid(None, 1), LABELS) == "#?"
