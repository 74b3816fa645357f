"""Properties: no message between live processes is lost or reordered per sender-receiver pair,
whatever the interleaving and the selective receives."""

from hypothesis import given, settings, strategies as st

import beamlet
from beamlet import ANY, receive, self_pid, send, spawn


async def sender(target, tag, n, yields):
    for i in range(n):
        send(target, (tag, i))
        if i in yields:
            await beamlet.yield_turn()


@settings(max_examples=40, deadline=None)
@given(
    counts=st.lists(st.integers(0, 60), min_size=1, max_size=6),
    yields=st.sets(st.integers(0, 60), max_size=10),
    order=st.lists(st.integers(0, 5), max_size=200),
)
def test_per_sender_order_is_kept(counts, yields, order):
    async def main():
        me = self_pid()
        for tag, n in enumerate(counts):
            spawn(sender, me, tag, n, yields)
        total = sum(counts)
        got = {tag: [] for tag in range(len(counts))}
        # selective receives from a random sender first, then whatever comes
        for tag in order:
            if tag < len(counts) and len(got[tag]) < counts[tag]:
                _, i = await receive((tag, ANY))
                got[tag].append(i)
        while sum(map(len, got.values())) < total:
            tag, i = await receive()
            got[tag].append(i)
        return got

    got = beamlet.run(main)
    assert got == {tag: list(range(n)) for tag, n in enumerate(counts)}


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.integers(), st.text(max_size=3),
                          st.tuples(st.integers(), st.integers())),
                max_size=30),
       st.integers(0, 5))
def test_selective_receive_takes_first_match_and_keeps_the_rest(msgs, pick):
    async def main():
        me = self_pid()
        for m in msgs:
            send(me, m)
        taken = await receive(int, timeout=0, default=None)
        return taken, beamlet.flush()

    taken, rest = beamlet.run(main)
    ints = [m for m in msgs if type(m) is int]
    if ints:
        first = msgs.index(ints[0])
        assert taken == ints[0] and rest == msgs[:first] + msgs[first + 1:]
    else:
        assert taken is None and rest == msgs
