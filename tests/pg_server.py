"""Start a throw-away PostgreSQL cluster (initdb + pg_ctl) on a temp dir and a free port."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _find_binary(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    return None


def _as_postgres_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *cmd]
    return cmd


@dataclass
class PostgresServer:
    datadir: Path
    port: int
    pg_ctl: str

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        subprocess.run(
            _as_postgres_user([self.pg_ctl, "-D", str(self.datadir), "-m", "immediate", "stop"]),
            check=False, capture_output=True,
        )
        shutil.rmtree(self.datadir.parent, ignore_errors=True)


def postgres_available() -> bool:
    return _find_binary("initdb") is not None and _find_binary("pg_ctl") is not None


def start_postgres() -> PostgresServer:
    initdb, pg_ctl = _find_binary("initdb"), _find_binary("pg_ctl")
    if not initdb or not pg_ctl:
        raise RuntimeError("initdb/pg_ctl not found: install PostgreSQL or set TEST_POSTGRES_URL")
    root = Path(tempfile.mkdtemp(prefix="lumicrs-pg-"))
    datadir = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        _as_postgres_user([initdb, "-D", str(datadir), "-U", "postgres", "-A", "trust", "-E", "UTF8"]),
        check=True, capture_output=True,
    )
    port = _free_port()
    opts = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200"
    subprocess.run(
        _as_postgres_user([pg_ctl, "-D", str(datadir), "-o", opts, "-l", str(root / "log"), "-w", "start"]),
        check=True, capture_output=True,
    )
    return PostgresServer(datadir=datadir, port=port, pg_ctl=pg_ctl)
