"""A throw-away three-node RabbitMQ cluster on this machine, for the cluster tests.

The system's node (rabbit@localhost on 5672) is never touched: each node here has its own name,
AMQP and distribution ports, config, env file, enabled-plugins file, data, logs and pid file under one
temporary folder, and is started by the real `rabbitmq-server -detached` as the `rabbitmq` user,
whose ~/.erlang.cookie (the system node's, left as it is) makes the nodes trust each other. Nodes
are stopped by the pid in their own pid file (SIGKILL: the folder is thrown away anyway), also when a
test fails; a node whose pid file never appeared is found by its unique node name in /proc.

    python -m tests.cluster.nodes up      # start and cluster three nodes; prints their URL; Ctrl-C stops them
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SBIN = Path("/usr/lib/rabbitmq/bin")
RABBITMQ_HOME = Path("/var/lib/rabbitmq")  # the rabbitmq user's home: its .erlang.cookie
HOST = "localhost"


def available() -> str | None:
    """Why a cluster cannot be started here, or None when it can."""
    if not (SBIN / "rabbitmq-server").exists():
        return f"{SBIN / 'rabbitmq-server'} is not installed"
    if os.geteuid() != 0:
        return "starting nodes as the rabbitmq user needs root"
    if not (RABBITMQ_HOME / ".erlang.cookie").exists():
        return f"no Erlang cookie in {RABBITMQ_HOME}"
    if shutil.which("runuser") is None:
        return "runuser is not installed"
    return None


def _free_ports(count: int) -> list[int]:
    """Ports free now on 127.0.0.1 (held open together so that they differ)."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


@dataclass
class Node:
    name: str  # short name, e.g. ddfl3f2a1
    port: int
    dist_port: int
    base: Path

    @property
    def node(self) -> str:
        return f"{self.name}@{HOST}"

    @property
    def pid_file(self) -> Path:
        return self.base / "pid"

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def env(self) -> dict[str, str]:
        values = {
            "NODENAME": self.node,
            "NODE_IP_ADDRESS": "127.0.0.1",
            "NODE_PORT": str(self.port),
            "DIST_PORT": str(self.dist_port),
            "MNESIA_BASE": str(self.base / "mnesia"),
            "LOG_BASE": str(self.base / "log"),
            "PID_FILE": str(self.pid_file),
            "CONFIG_FILE": str(self.base / "rabbitmq.conf"),
            "ENABLED_PLUGINS_FILE": str(self.base / "enabled_plugins"),
            "CONF_ENV_FILE": str(self.base / "rabbitmq-env.conf"),
        }
        return {f"RABBITMQ_{key}": value for key, value in values.items()}

    def write_files(self) -> None:
        for folder in (self.base, self.base / "mnesia", self.base / "log"):
            folder.mkdir(parents=True, exist_ok=True)
        (self.base / "rabbitmq.conf").write_text(
            f"listeners.tcp.local = 127.0.0.1:{self.port}\n"
            "cluster_partition_handling = pause_minority\n"
            "log.file.level = warning\n"
        )
        (self.base / "enabled_plugins").write_text("[].\n")
        # The system's /etc/rabbitmq/rabbitmq-env.conf pins rabbit@localhost; this one replaces it.
        (self.base / "rabbitmq-env.conf").write_text(
            "".join(f"{key.removeprefix('RABBITMQ_')}={value}\n" for key, value in self.env().items())
            + "ERL_EPMD_ADDRESS=127.0.0.1\n"
        )

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def alive(self) -> bool:
        pid = self.pid()
        if pid is None:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return _state(pid) not in {"Z", None}

    def beam_pids(self) -> list[int]:
        """This node's VM, found by its unique name on its command line (when no pid file was written)."""
        found = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                argv = (entry / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if self.node.encode() in argv and any(b"beam" in a for a in argv[:1]):
                found.append(int(entry.name))
        return found

    def kill(self) -> None:
        """SIGKILL the node's VM (by its pid file, or by its unique name), and wait until it is gone."""
        pids = {p for p in (self.pid(),) if p is not None} | set(self.beam_pids())
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while any(_state(pid) not in {None, "Z"} for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return None


def _as_rabbitmq(argv: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": str(RABBITMQ_HOME),
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        **env,
    }
    return subprocess.run(
        ["runuser", "-u", "rabbitmq", "--", *argv],
        env=environment,
        cwd=str(RABBITMQ_HOME),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Cluster:
    """Three (or `size`) clustered nodes; `with Cluster() as cluster:` stops them whatever happens."""

    def __init__(self, size: int = 3, root: Path | None = None):
        self.token = uuid.uuid4().hex[:6]
        self.root = Path(root or tempfile.mkdtemp(prefix="ddfl-cluster-"))
        ports = _free_ports(2 * size)
        self.nodes = [
            Node(f"ddfl{self.token}n{i + 1}", ports[2 * i], ports[2 * i + 1], self.root / f"n{i + 1}")
            for i in range(size)
        ]
        self.formed_in: float | None = None

    @property
    def url(self) -> str:
        """The adapter's multi-node URL: `amqp://user:pass@host1:port1,host2:port2,…/vhost`."""
        return "amqp://guest:guest@" + ",".join(f"127.0.0.1:{n.port}" for n in self.nodes) + "/"

    def ctl(self, node: Node, *args: str, timeout: float = 60) -> str:
        result = _as_rabbitmq(
            [str(SBIN / "rabbitmqctl"), "-n", node.node, *args], {"RABBITMQ_CONF_ENV_FILE": "/dev/null"}, timeout
        )
        if result.returncode != 0:
            raise RuntimeError(f"rabbitmqctl {' '.join(args)} on {node.node}: {result.stdout}{result.stderr}")
        return result.stdout

    def start(self) -> Cluster:
        started = time.monotonic()
        shutil.chown(self.root, "rabbitmq", "rabbitmq")
        for node in self.nodes:
            node.write_files()
        subprocess.run(["chown", "-R", "rabbitmq:rabbitmq", str(self.root)], check=True)
        for node in self.nodes:
            self._launch(node)
        for node in self.nodes:
            self._await_boot(node)
        first = self.nodes[0]
        for node in self.nodes[1:]:
            self.ctl(node, "stop_app")
            self.ctl(node, "join_cluster", first.node)
            self.ctl(node, "start_app")
        self.ctl(first, "await_online_nodes", str(len(self.nodes)), "--timeout", "60")
        self.formed_in = time.monotonic() - started
        return self

    def restart(self, node: Node) -> float:
        """Start a killed node again on its own data: it rejoins the cluster. Returns the seconds taken."""
        started = time.monotonic()
        node.pid_file.unlink(missing_ok=True)
        self._launch(node)
        self._await_boot(node)
        self.ctl(node, "await_online_nodes", str(len(self.nodes)), "--timeout", "60")
        return time.monotonic() - started

    def by_port(self, port: int) -> Node:
        return next(n for n in self.nodes if n.port == port)

    def _launch(self, node: Node) -> None:
        result = _as_rabbitmq([str(SBIN / "rabbitmq-server"), "-detached"], node.env(), timeout=60)
        if result.returncode != 0:
            raise RuntimeError(f"{node.node} did not start: {result.stdout}{result.stderr}")

    def _await_boot(self, node: Node, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while node.pid() is None:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{node.node} wrote no pid file; see {node.base / 'log'}")
            time.sleep(0.1)
        remaining = max(1, int(deadline - time.monotonic()))
        self.ctl(node, "wait", "--pid", str(node.pid()), "--timeout", str(remaining), timeout=remaining + 10)

    def stop(self) -> None:
        for node in self.nodes:
            node.kill()
        shutil.rmtree(self.root, ignore_errors=True)

    def running(self) -> list[Node]:
        return [n for n in self.nodes if n.alive()]

    def __enter__(self) -> Cluster:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def cluster(size: int = 3) -> Iterator[Cluster]:
    with Cluster(size) as running:
        yield running


def main(argv: list[str]) -> int:
    if argv[1:] != ["up"]:
        print(__doc__)
        return 2
    if reason := available():
        print(f"cannot start a cluster here: {reason}", file=sys.stderr)
        return 1
    with Cluster() as running:
        print(f"cluster formed in {running.formed_in:.1f} s: DDFL_AMQP_URL={running.url}", flush=True)
        for node in running.nodes:
            print(f"  {node.node} amqp {node.port} dist {node.dist_port} pid {node.pid()} ({node.base})", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
