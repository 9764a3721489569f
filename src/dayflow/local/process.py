"""Background processes of the local stack: started detached, tracked by pid files under the
state directory (`.dayflow/` by default), logs beside them, stopped by `dayflow local down`."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from dayflow.errors import DayflowError

# Children started by this process, kept so they are reaped (no zombies, no ResourceWarning).
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class LocalProcess:
    """A running local service: its name, pid, port and log file."""

    name: str
    pid: int
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def get_free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def is_port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def start_process(
    name: str,
    argv: list[str],
    *,
    port: int,
    state_dir: Path,
    env: dict[str, str] | None = None,
    ready_timeout: float = 300.0,
    cwd: Path | None = None,
) -> LocalProcess:
    """Start `argv` detached, wait until it listens on 127.0.0.1:`port`, and record it.

    The wait follows the process: one that exits fails at once, naming its log. `ready_timeout`
    only guards against one that hangs without listening: on a loaded machine a start that
    takes 2 s idle can take 30 s and more, and `dayflow local up` starts three at once.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    log = state_dir / f"{name}.log"
    with log.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # survives the CLI process; stopped by pid
        )
    _children[proc.pid] = proc
    deadline = time.monotonic() + ready_timeout
    while not is_port_open(port):
        if proc.poll() is not None:
            _children.pop(proc.pid, None)
            raise DayflowError(f"{name} exited with code {proc.returncode} on start (see {log})")
        if time.monotonic() > deadline:
            proc.kill()
            proc.wait()
            _children.pop(proc.pid, None)
            raise DayflowError(
                f"{name} did not listen on port {port} in {ready_timeout} s (see {log})"
            )
        time.sleep(0.05)
    found = LocalProcess(name, proc.pid, port, log)
    (state_dir / f"{name}.json").write_text(
        json.dumps({"name": name, "pid": proc.pid, "port": port, "log": str(log)})
    )
    return found


def get_process(name: str, state_dir: Path) -> LocalProcess | None:
    """The recorded process `name` if it is still alive."""
    record = state_dir / f"{name}.json"
    if not record.is_file():
        return None
    data = json.loads(record.read_text())
    try:
        os.kill(data["pid"], 0)
    except ProcessLookupError:
        return None
    return LocalProcess(data["name"], data["pid"], data["port"], Path(data["log"]))


def stop_process(name: str, state_dir: Path, timeout: float = 10.0) -> bool:
    """Stop process `name` (its whole process group). Returns whether one was running."""
    found = get_process(name, state_dir)
    (state_dir / f"{name}.json").unlink(missing_ok=True)
    if found is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(found.pid, signal.SIGTERM)
    child = _children.pop(found.pid, None)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return True
        try:
            os.kill(found.pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(found.pid, signal.SIGKILL)
    if child is not None:
        child.wait()
    return True
