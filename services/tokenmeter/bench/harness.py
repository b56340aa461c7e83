"""Run tokenmeter processes as a user would: real subprocesses, real HTTP, real signals."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import orjson
from prometheus_client.parser import text_string_to_metric_families


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tokenmeter_env(*, namespace: str, chdb_dir: Path, http_port: int, var_dir: Path,
                   extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    api_port = free_port()
    while api_port == http_port:  # two free ports picked a moment apart can be the same one
        api_port = free_port()
    env.update({
        "TOKENMETER_NAMESPACE": namespace,
        "CLICKHOUSE_URL": f"chdb://{chdb_dir}",
        "TOKENMETER_HTTP_PORT": str(http_port),
        "TOKENMETER_HTTP_API_PORT": str(api_port),
        "TOKENMETER_VAR_DIR": str(var_dir),
    })
    env.update(extra or {})
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 120) -> str:
    """Run ``python -m tokenmeter ARGS``; return stdout; raise with stderr on failure."""
    proc = subprocess.run([sys.executable, "-m", "tokenmeter", *args], env=dict(env), capture_output=True,
                          text=True, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"tokenmeter {' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-4000:]}")
    return proc.stdout


def sql_rows(env: Mapping[str, str], query: str) -> list[dict[str, Any]]:
    out = run_cli(env, "sql", query)
    return [orjson.loads(line) for line in out.splitlines() if line.strip()]


class WorkerProcess:
    """``tokenmeter worker`` in a subprocess, logging to a file."""

    def __init__(self, env: Mapping[str, str], log_path: Path, *args: str) -> None:
        self.env = dict(env)
        self.port = int(self.env["TOKENMETER_HTTP_PORT"])
        self.log_path = log_path
        self.args = args or ("worker",)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # The child keeps its own descriptor; ours is closed at once, so restarts leak nothing.
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen([sys.executable, "-m", "tokenmeter", "--log-level", "warning", *self.args],
                                         env=self.env, stdout=log, stderr=subprocess.STDOUT)

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=10) as resp:
            body: bytes = resp.read()
            return body

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                self.get("/healthz")
                return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        raise TimeoutError(f"worker not ready after {timeout}s; log: {self.tail()}")

    def metrics(self) -> dict[str, float]:
        """Sample values keyed by ``name{label="v",...}`` (labels sorted), counters by full name."""
        out: dict[str, float] = {}
        for family in text_string_to_metric_families(self.get("/metrics").decode()):
            for s in family.samples:
                labels = ",".join(f'{k}="{v}"' for k, v in sorted(s.labels.items()))
                out[f"{s.name}{{{labels}}}" if labels else s.name] = s.value
        return out

    def wait_for(self, condition: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if condition():
                    return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"timed out after {timeout}s waiting for {what}; log: {self.tail()}")

    def check_alive(self) -> None:
        if self.proc is not None and self.proc.poll() is not None:
            raise RuntimeError(f"worker exited with {self.proc.returncode}; log: {self.tail()}")

    def stop(self, timeout: float = 60) -> int:
        """SIGTERM, wait; SIGKILL after ``timeout``. Returns the exit code."""
        if self.proc is None:
            return 0
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log_path.read_bytes()[-n:].decode("utf-8", "replace")
        except OSError:
            return "(no log)"
