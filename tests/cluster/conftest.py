"""The cluster tests start three RabbitMQ nodes of their own (about 20 s). The short form runs with
the rest of the suite (so CI runs it); the long form only when asked: `-m cluster` (or
DDFL_CLUSTER_TESTS=1). They skip where nodes cannot be started (not root, no rabbitmq-server),
except under CI, where that is a failure."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from . import nodes


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if "cluster" in (config.option.markexpr or "") or os.environ.get("DDFL_CLUSTER_TESTS"):
        return
    skip = pytest.mark.skip(reason="the long cluster form (~2 min): run with -m cluster")
    for item in items:
        if item.get_closest_marker("cluster") and "[long]" in item.nodeid:
            item.add_marker(skip)


@pytest.fixture(scope="module")
def rabbit_cluster() -> Iterator[nodes.Cluster]:
    """Three clustered nodes for the module's tests, stopped by their pid files afterwards."""
    if reason := nodes.available():
        if os.environ.get("CI"):
            pytest.fail(f"cannot start a RabbitMQ cluster: {reason}")
        pytest.skip(f"cannot start a RabbitMQ cluster: {reason}")
    with nodes.Cluster() as cluster:
        print(f"\ncluster formed in {cluster.formed_in:.1f} s: {cluster.url}")
        yield cluster
