"""docker-compose.yml: RabbitMQ with its management UI (one node, or three with the `cluster` profile),
PostgreSQL and the adapter, which scales to replicas, wired as the README says."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

COMPOSE = Path(__file__).resolve().parents[1] / "docker-compose.yml"


def test_compose_runs_rabbitmq_with_management_and_the_adapter() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    rabbit, adapter = services["rabbitmq"], services["adapter"]
    assert "management" in rabbit["image"]
    assert {"5672:5672", "15672:15672"} <= set(rabbit["ports"])
    assert adapter["command"] == ["ddfl-adapter", "run"]
    assert adapter["environment"]["DDFL_AMQP_URL"].startswith("amqp://guest:guest@rabbitmq:5672")
    assert adapter["environment"]["DDFL_STORE_URL"].startswith("postgresql://")  # replicas share it
    assert adapter["environment"]["DDFL_API_HOST"] == "0.0.0.0"  # the published port reaches it (default 127.0.0.1)
    assert adapter["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert adapter["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert adapter["healthcheck"]["test"] == ["CMD", "ddfl-adapter", "health"]


def test_the_cluster_profile_adds_two_nodes_that_join_the_first_and_the_adapter_names_all_three() -> None:
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    joining = [name for name, service in services.items() if "cluster" in service.get("profiles", [])]
    assert sorted(joining) == ["rabbitmq-2", "rabbitmq-3"]
    config = (COMPOSE.parent / "docker" / "rabbitmq-cluster.conf").read_text()
    assert "cluster_formation.classic_config.nodes.1 = rabbit@rabbitmq" in config
    for name in joining:
        node = services[name]
        assert node["image"] == services["rabbitmq"]["image"]
        assert node["entrypoint"] == services["rabbitmq"]["entrypoint"], "one Erlang cookie for every node"
        assert node["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
        assert any(v.startswith("./docker/rabbitmq-cluster.conf:/etc/rabbitmq/conf.d/") for v in node["volumes"])
        assert services["adapter"]["depends_on"][name] == {"condition": "service_healthy", "required": False}

    from adapter.worker.cluster import amqp_urls

    nodes = amqp_urls(services["adapter"]["environment"]["DDFL_AMQP_URL"])
    assert [n.split("@")[1].split("/")[0] for n in nodes] == ["rabbitmq:5672", "rabbitmq-2:5672", "rabbitmq-3:5672"]


def test_the_adapter_scales_to_three_replicas_without_port_clashes() -> None:
    adapter = yaml.safe_load(COMPOSE.read_text())["services"]["adapter"]
    assert "container_name" not in adapter
    assert adapter["ports"] == ["8080-8082:8080"]
    assert "volumes" not in adapter, "no state of its own: it is in PostgreSQL"


def test_compose_file_is_valid_for_docker_compose() -> None:
    """`docker compose config` where the v2 plugin exists, else the v1 `docker-compose config`."""
    if shutil.which("docker") and subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        command = ["docker", "compose", "-f", str(COMPOSE), "config", "--quiet"]
    elif shutil.which("docker-compose"):
        command = ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"]
    else:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
