"""Start a real Label Studio server from its own venv (.venv-labelstudio) on a free port."""
from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LS_BIN = Path(os.environ.get("LABEL_STUDIO_BIN", REPO / ".venv-labelstudio" / "bin" / "label-studio"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LabelStudioServer:
    url: str
    token: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    port: int

    def kill(self) -> None:
        """SIGKILL the whole server (its process group), as a crash or an OOM kill would."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=20)

    def restart(self) -> LabelStudioServer:
        """Start again on the same data directory, port and token."""
        return start_labelstudio(data_dir=self.data_dir, port=self.port, token=self.token)

    def stop(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            self.kill()
        shutil.rmtree(self.data_dir, ignore_errors=True)


def labelstudio_available() -> bool:
    return LS_BIN.exists()


def start_labelstudio(timeout: float = 180.0, *, data_dir: Path | None = None, port: int | None = None,
                      token: str | None = None) -> LabelStudioServer:
    data_dir = data_dir or Path(tempfile.mkdtemp(prefix="lumicrs-ls-"))
    port = port or _free_port()
    token = token or secrets.token_hex(20)
    env = {**os.environ, "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir), "LABEL_STUDIO_USERNAME": "lead@example.com",
           "LABEL_STUDIO_PASSWORD": "lumicrs-test-pw", "LABEL_STUDIO_USER_TOKEN": token,
           "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true", "LABEL_STUDIO_LATEST_VERSION_CHECK": "false",
           "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true"}
    log = (data_dir / "server.log").open("ab")
    process = subprocess.Popen([str(LS_BIN), "start", "--no-browser", "--internal-host", "127.0.0.1", "-p", str(port)],
                               env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"label-studio exited: {(data_dir / 'server.log').read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return LabelStudioServer(url, token, process, data_dir, port)
        except OSError:
            time.sleep(1)
    os.killpg(process.pid, signal.SIGKILL)
    raise RuntimeError(f"label-studio did not start in {timeout:.0f}s")
