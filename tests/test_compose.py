"""docker-compose.yml: RabbitMQ with its management UI and the adapter, wired as the README says."""

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
    assert adapter["environment"]["DDFL_STORE_URL"].startswith("sqlite:///")
    assert adapter["depends_on"]["rabbitmq"]["condition"] == "service_healthy"
    assert adapter["healthcheck"]["test"] == ["CMD", "ddfl-adapter", "health"]


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
