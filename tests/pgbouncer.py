"""Debian's PgBouncer on loopback in transaction mode, in front of the test PostgreSQL.

This is what Neon's and Vercel Postgres' pooled URLs are: a client's
transactions may run on different server connections, so session state
(prepared statements above all) does not carry over. ``./dev test`` installs
the package through apt-get when it is missing.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from tests.helpers import PG_ADMIN_URL, free_port, wait_for

_CONFIG = """\
[databases]
* = host={host} port={port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
unix_socket_dir =
auth_type = trust
auth_file = {users}
pool_mode = transaction
default_pool_size = 2
max_client_conn = 100
"""


def pgbouncer_binary() -> str | None:
    """The pgbouncer executable (Debian installs it in /usr/sbin), or None."""
    return shutil.which("pgbouncer") or shutil.which("pgbouncer", path="/usr/sbin:/usr/bin")


@contextlib.contextmanager
def pgbouncer(binary: str) -> Iterator[int]:
    """Run PgBouncer (pool_mode = transaction, 2 server connections); yield its port."""
    target = urlsplit(PG_ADMIN_URL)
    user = target.username or getpass.getuser()
    listen = free_port()
    with tempfile.TemporaryDirectory(prefix="ctsync-pgbouncer-") as tmp:
        folder = Path(tmp)
        folder.chmod(0o755)  # readable by the user PgBouncer switches to
        users = folder / "users.txt"
        users.write_text(f'"{user}" ""\n')
        config = folder / "pgbouncer.ini"
        config.write_text(
            _CONFIG.format(
                host=target.hostname or "127.0.0.1",
                port=target.port or 5432,
                listen=listen,
                users=users,
            )
        )
        for path in (users, config):
            path.chmod(0o644)
        # PgBouncer refuses to run as root; -u makes it switch to an ordinary user.
        as_user = ["-u", "postgres"] if os.geteuid() == 0 else []
        log = (folder / "pgbouncer.log").open("wb")
        proc = subprocess.Popen([binary, *as_user, str(config)], stdout=log, stderr=log)
        try:
            wait_for(lambda: _listening(listen) or _exited(proc, folder), 20, "pgbouncer")
            yield listen
        finally:
            proc.terminate()
            proc.wait(timeout=20)
            log.close()


def pooled_url(direct_url: str, port: int) -> str:
    """The same database as ``direct_url``, through the pooler on ``port``."""
    parts = urlsplit(direct_url)
    return parts._replace(netloc=f"{parts.username or getpass.getuser()}@127.0.0.1:{port}").geturl()


def _listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def _exited(proc: subprocess.Popen[bytes], folder: Path) -> bool:
    if proc.poll() is not None:
        log = (folder / "pgbouncer.log").read_text(errors="replace")
        raise AssertionError(f"pgbouncer exited {proc.returncode}: {log[-2000:]}")
    return False
