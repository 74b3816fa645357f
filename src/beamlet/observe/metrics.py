"""`/metrics`: the node in the Prometheus text format, through the standard client library.

The figures come from the collector's overview (one request per scrape), so a scrape costs the
node what an open overview page costs it. Names follow Prometheus conventions: counters end in
``_total`` (the library adds it), sizes are in bytes, durations in seconds. The library's own
process collector adds the usual ``process_*`` series (CPU seconds, resident memory, open file
descriptors), which the common Grafana dashboards chart.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _NodeMetrics(Collector):
    """A custom collector that turns the latest overview into metric families."""

    def __init__(self) -> None:
        self.overview: dict[str, Any] = {}

    def collect(self) -> Iterator[Metric]:
        o = self.overview
        if not o:
            return
        node = [o["node"]]
        yield _gauge("beamlet_processes", "Live processes.", node, o["processes"])
        queues = GaugeMetricFamily("beamlet_run_queue_length",
                                   "Processes waiting in each priority's run queue.",
                                   labels=["node", "priority"])
        for priority, length in o["run_queue"].items():
            queues.add_metric([o["node"], priority], length)
        yield queues
        yield _counter("beamlet_reductions", "Reductions done by live processes (steps, "
                       "sends, kernel calls), growth only.", node, o["reductions_total"])
        yield _counter("beamlet_messages", "Messages sent on the node.", node,
                       o.get("messages_total", 0))
        yield _counter("beamlet_handoffs", "Times the watchdog handed the scheduler off a "
                       "stuck process.", node, o["handoffs"])
        yield _gauge("beamlet_messages_queued", "Messages waiting in mailboxes, all "
                     "processes together.", node, o["messages_queued"])
        yield _gauge("beamlet_longest_message_queue", "The longest mailbox of any process.",
                     node, o["longest_queue"])
        yield _gauge("beamlet_memory_bytes", "Resident memory of the node's OS process.", node,
                     o["rss"])
        yield _gauge("beamlet_uptime_seconds", "Seconds since the dashboard started with the "
                     "node.", node, o["uptime"])
        yield _gauge("beamlet_schedulers", "Schedulers the node reports.", node,
                     o["schedulers"])


def _gauge(name: str, doc: str, node: list[str], value: float) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=["node"])
    family.add_metric(node, value)
    return family


def _counter(name: str, doc: str, node: list[str], value: float) -> CounterMetricFamily:
    family = CounterMetricFamily(name, doc, labels=["node"])
    family.add_metric(node, value)
    return family


class Metrics:
    """A registry of the node's metrics and the OS process's; `render` gives the text."""

    def __init__(self) -> None:
        self.node = _NodeMetrics()
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self.node)
        self.registry.register(ProcessCollector(registry=None))

    def render(self, overview: dict[str, Any]) -> bytes:
        """The Prometheus exposition of ``overview`` (a collector overview)."""
        self.node.overview = overview
        return generate_latest(self.registry)
