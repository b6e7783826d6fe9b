"""Find or start the PostgreSQL and Redis the tests and the staging stack need; print their URLs.

Order of attempts, for each service:
1. the URL in the environment (DATABASE_URL / REDIS_URL), or the default local port, if it answers;
2. the machine's installed server (Debian's pg_ctlcluster / redis-server on the default port);
3. a throwaway server under .botcap/ on a spare port (initdb + pg_ctl; redis-server --daemonize);
4. as root with apt-get: install Debian's postgresql / redis-server, then 2-3 again.
Prints ``export DATABASE_URL=...`` and ``export REDIS_URL=...`` for the shell to eval. Exits 2 with
what to do when nothing works: the test suite must fail, not skip, without its services.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
STATE = ROOT / ".botcap"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/test"
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
PG_SPARE_PORT, REDIS_SPARE_PORT = 55432, 56379


def log(msg: str) -> None:
    print(f"[services] {msg}", file=sys.stderr)


def run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def pg_ok(url: str) -> bool:
    psql = shutil.which("psql")
    if psql:
        return run([psql, url, "-Atc", "select 1"], timeout=10).returncode == 0
    u = urlparse(url)
    return _port_open(u.hostname or "127.0.0.1", u.port or 5432)


def redis_ok(url: str) -> bool:
    u = urlparse(url)
    try:
        with socket.create_connection((u.hostname or "127.0.0.1", u.port or 6379), timeout=2) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def _wait(check, url: str, seconds: float = 30) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if check(url):
            return True
        time.sleep(0.5)
    return False


def _pg_bin(name: str) -> str | None:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found[-1] if found else shutil.which(name)


def _apt_install(package: str) -> bool:
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    log(f"installing Debian package {package} ...")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-q"], env=env)
    return run(["apt-get", "install", "-y", "-q", package], env=env).returncode == 0


def _start_installed_pg() -> None:
    if shutil.which("pg_ctlcluster"):
        for version in sorted(os.listdir("/etc/postgresql")) if os.path.isdir("/etc/postgresql") else []:
            run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "start"])


def _throwaway_pg() -> str | None:
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        return None
    data = STATE / "pg"
    url = f"postgresql://postgres@127.0.0.1:{PG_SPARE_PORT}/test"
    if pg_ok(url):
        return url
    STATE.mkdir(exist_ok=True)
    as_user: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root: use the postgres (or nobody) account
        user = "postgres" if run(["id", "postgres"]).returncode == 0 else "nobody"
        as_user = ["runuser", "-u", user, "--"]
        data.mkdir(exist_ok=True)
        shutil.chown(data, user)
        shutil.chown(STATE, user)
    if not (data / "PG_VERSION").exists():
        r = run(as_user + [initdb, "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"])
        if r.returncode != 0:
            log(f"initdb failed: {r.stderr.strip()[-300:]}")
            return None
    opts = (f"-p {PG_SPARE_PORT} -c listen_addresses=127.0.0.1 -c unix_socket_directories=/tmp"
            " -c max_connections=300")
    run(as_user + [pg_ctl, "-D", str(data), "-o", opts, "-l", str(STATE / "pg.log"), "-w", "start"])
    admin = f"postgresql://postgres@127.0.0.1:{PG_SPARE_PORT}/postgres"
    if _wait(pg_ok, admin, 30):
        run(["psql", admin, "-c", "create database test"])
        return url if pg_ok(url) else None
    return None


def ensure_pg() -> str | None:
    url = os.environ.get("DATABASE_URL") or PG_DEFAULT
    if pg_ok(url):
        return url
    if os.environ.get("DATABASE_URL"):
        log(f"DATABASE_URL={url} does not answer")
        return None
    for attempt in range(2):
        _start_installed_pg()
        if _wait(pg_ok, url, 10):
            return url
        if (spare := _throwaway_pg()) is not None:
            return spare
        if attempt == 0 and not _apt_install("postgresql"):
            break
    return None


def _throwaway_redis() -> str | None:
    server = shutil.which("redis-server")
    if not server:
        return None
    url = f"redis://127.0.0.1:{REDIS_SPARE_PORT}/0"
    if not redis_ok(url):
        STATE.mkdir(exist_ok=True)
        run([server, "--port", str(REDIS_SPARE_PORT), "--bind", "127.0.0.1", "--daemonize", "yes",
             "--save", "", "--appendonly", "no", "--dir", str(STATE), "--logfile", str(STATE / "redis.log")])
    return url if _wait(redis_ok, url, 10) else None


def ensure_redis() -> str | None:
    url = os.environ.get("REDIS_URL") or REDIS_DEFAULT
    if redis_ok(url):
        return url
    if os.environ.get("REDIS_URL"):
        log(f"REDIS_URL={url} does not answer")
        return None
    for attempt in range(2):
        if (spare := _throwaway_redis()) is not None:
            return spare
        if attempt == 0 and not _apt_install("redis-server"):
            break
    return None


def ensure_pg_tools() -> bool:
    """initdb + pg_ctl: the crash-restart test spawns a throwaway cluster even when a server answers."""
    if _pg_bin("initdb") and _pg_bin("pg_ctl"):
        return True
    return _apt_install("postgresql") and bool(_pg_bin("initdb") and _pg_bin("pg_ctl"))


def main() -> int:
    pg, redis = ensure_pg(), ensure_redis()
    if not ensure_pg_tools():
        log("PostgreSQL's initdb/pg_ctl are missing (Debian: apt-get install postgresql); "
            "the crash-restart test will fail")
    if pg is None or redis is None:
        missing = [n for n, u in (("PostgreSQL", pg), ("Redis", redis)) if u is None]
        log(f"cannot reach or start {' and '.join(missing)}. Start them (Debian: apt-get install "
            "postgresql redis-server) or set DATABASE_URL / REDIS_URL.")
        return 2
    print(f"export DATABASE_URL={pg}")
    print(f"export REDIS_URL={redis}")
    log(f"PostgreSQL at {pg}; Redis at {redis}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
