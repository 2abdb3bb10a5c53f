"""Real servers for the tests of the shared deployment, as pytest fixtures (a plugin of tests/conftest.py):
a PostgreSQL started with initdb/pg_ctl in a temp dir on a Unix socket of its own, a fresh database
on it per test, and a `chroma run` on a free loopback port."""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

SUPERUSER = "vraagbaak"
_databases = itertools.count()


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_listening(port: int, proc: subprocess.Popen[bytes], what: str, limit: float = 60) -> None:
    """Return once ``port`` accepts connections; fail when ``proc`` exits or ``limit`` seconds pass."""
    deadline = time.monotonic() + limit
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, f"{what} did not start listening"
            time.sleep(0.2)


def _server_user() -> str | None:
    """The account PostgreSQL's tools run as: initdb refuses root, so as root another one (None: ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
        return name
    pytest.skip("running as root and there is no postgres or nobody account to run PostgreSQL as")


@pytest.fixture(scope="session")
def postgres() -> Iterator[Path]:
    """A PostgreSQL server of this session; yields the directory of its Unix socket (no TCP port)."""
    import psycopg  # noqa: F401 - skip early, with the reason, where the shared extra is missing

    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip("PostgreSQL's initdb and pg_ctl are not on PATH (Debian: apt-get install postgresql)")
    user = _server_user()
    as_user = [] if user is None else ["runuser", "-u", user, "--"]
    # not under pytest's tmp dir: as root that is mode 0700, out of the server account's reach
    root = Path(tempfile.mkdtemp(prefix="vraagbaak-pg-"))
    if user is not None:
        os.chown(root, pwd.getpwnam(user).pw_uid, -1)
    data = root / "data"

    def run(*args: str | Path) -> None:
        done = subprocess.run([*as_user, *map(str, args)], cwd=root, capture_output=True, text=True, timeout=120)
        if done.returncode != 0:
            log = (root / "server.log").read_text() if (root / "server.log").exists() else ""
            pytest.fail(f"{args[0]} failed: {done.stdout}{done.stderr}{log}")

    try:
        run(initdb, "-D", data, "-U", SUPERUSER, "--auth=trust", "-E", "UTF8", "--locale=C", "--no-sync")
        # the crash tests kill clients, never the server: its own durability does not matter here
        run(pg_ctl, "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o",
            f"-k {root} -c listen_addresses='' -c fsync=off -c max_connections=200", "start")
        yield root
    finally:
        if (data / "postmaster.pid").exists():
            run(pg_ctl, "-D", data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_url(postgres: Path) -> str:
    """The URL of a fresh, empty database on the session's server."""
    import psycopg

    name = f"vraagbaak_{next(_databases)}"
    with psycopg.connect(host=str(postgres), user=SUPERUSER, dbname="postgres", autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return f"postgresql+psycopg://{SUPERUSER}@/{name}?host={postgres}"


@contextmanager
def chroma_run(path: Path, port: int | None = None) -> Iterator[int]:
    """A real `chroma run` over ``path`` on loopback while the block runs; yields the port.

    ``port`` restarts a server where it was (a free port otherwise).
    """
    exe = shutil.which("chroma", path=str(Path(sys.executable).parent))
    if exe is None:
        pytest.skip("the `chroma` console script of chromadb is not installed next to this Python")
    port = port or free_port()
    proc = subprocess.Popen([exe, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    try:
        wait_listening(port, proc, "chroma run")
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """A real `chroma run` on a free loopback port for this module (each test its own collection)."""
    with chroma_run(tmp_path_factory.mktemp("chroma-server")) as port:
        yield port
