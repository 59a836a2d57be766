"""A throwaway PostgreSQL cluster for one test run, from Debian's PostgreSQL binaries.

`make test` runs every test on PostgreSQL too, and a fresh machine may have no server running. When
CRM_TEST_DATABASE_URL is unset, tests/conftest.py starts a cluster here: `initdb` in a temporary folder, the
server on a free port of 127.0.0.1 (and its socket in that folder), trust authentication, user `postgres`.
`stop()` shuts it down and deletes the folder.

Debian installs the binaries in /usr/lib/postgresql/<version>/bin. When there are none, root installs the
`postgresql` package; anyone else is told the one command to run. `initdb` refuses to run as root, so as
root the cluster belongs to the `postgres` user, in a folder that user owns.
"""
from __future__ import annotations

import shlex
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from tests.debian import apt_install, install_command, is_root

DEBIAN_BINARIES = Path("/usr/lib/postgresql")
SERVICE_USER = "postgres"  # the system user Debian's package creates; it owns the cluster when we are root
# The data is thrown away at the end, so durability is not worth the time it costs on every commit.
SERVER_SETTINGS = ("listen_addresses=127.0.0.1", "fsync=off", "synchronous_commit=off", "full_page_writes=off",
                   "max_connections=300")  # the suite runs two pytest-xdist workers, each test up to 70 connections


class PostgresUnavailable(RuntimeError):
    """PostgreSQL cannot be found, installed or started; the message says what to do."""


def free_port() -> int:
    """A TCP port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_binaries() -> Path | None:
    """The newest /usr/lib/postgresql/<version>/bin that holds initdb and pg_ctl, or None."""
    found = [d / "bin" for d in DEBIAN_BINARIES.glob("*")
             if (d / "bin" / "initdb").is_file() and (d / "bin" / "pg_ctl").is_file()]
    return max(found, key=lambda b: [int(p) for p in b.parent.name.split(".") if p.isdigit()], default=None)


def ensure_binaries() -> Path:
    """Debian's PostgreSQL binaries, installing the package first when they are missing and we are root."""
    found = find_binaries()
    if found is None and is_root():
        apt_install("postgresql")
        found = find_binaries()
    if found is None:
        raise PostgresUnavailable(f"no PostgreSQL in {DEBIAN_BINARIES}/<version>/bin (the tests need a real "
                                  f"server); run: {install_command('postgresql')}")
    return found


class ThrowawayCluster:
    """A PostgreSQL cluster in a temporary folder, for one test run."""

    def __init__(self) -> None:
        self.bin_dir: Path | None = None
        self.folder: Path | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """The SQLAlchemy URL of the cluster's `postgres` database, as the superuser `postgres`."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    @property
    def _data(self) -> str:
        """The cluster's data directory (initdb creates it)."""
        return str(self.folder / "data")

    @property
    def _log_file(self) -> str:
        """The server's log, which says why a start failed."""
        return str(self.folder / "server.log")

    def start(self) -> str:
        """Create the cluster and start its server; return its URL. A failed start leaves nothing behind."""
        try:
            self.bin_dir = ensure_binaries()
            self.folder = Path(tempfile.mkdtemp(prefix="crm-test-postgres-"))
            if is_root():
                shutil.chown(self.folder, SERVICE_USER, SERVICE_USER)
            self._run("initdb", "-D", self._data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C.UTF-8",
                      "--no-sync")
            self.port = free_port()
            options = ["-p", str(self.port), "-k", str(self.folder)]
            options += [arg for setting in SERVER_SETTINGS for arg in ("-c", setting)]
            self._run("pg_ctl", "-D", self._data, "-l", self._log_file, "-w", "-o", shlex.join(options), "start")
        except BaseException:
            self.stop()
            raise
        return self.url

    def stop(self) -> None:
        """Stop the server, if it runs, and delete the folder; safe to call more than once."""
        if self.folder is None:
            return
        if Path(self._data, "postmaster.pid").exists():
            # Immediate: the data is about to be deleted, so there is nothing to write out first.
            self._run("pg_ctl", "-D", self._data, "-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    def _run(self, program: str, *args: str, check: bool = True) -> None:
        """Run one of the PostgreSQL programs in the cluster's folder, as `postgres` when we are root."""
        command = [str(self.bin_dir / program), *args]
        if is_root():
            command = ["runuser", "-u", SERVICE_USER, "--", *command]
        done = subprocess.run(command, cwd=self.folder, capture_output=True, text=True)
        if check and done.returncode != 0:
            raise PostgresUnavailable(f"{shlex.join(command)} failed:\n{done.stdout}{done.stderr}{self._log_tail()}")

    def _log_tail(self) -> str:
        """The last lines of the server's log, if it has one."""
        log = Path(self._log_file)
        return "server.log:\n" + "".join(log.read_text(errors="replace").splitlines(True)[-20:]) if log.exists() else ""
