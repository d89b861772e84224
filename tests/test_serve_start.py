"""``qa serve``'s start: a taken API port is one line and exit 2 before anything starts (it printed its whole
banner, then exited 3), and the banner says what the data dir really holds (found by an operator probe,
2026-11-29: it named SQLite and a Redis socket under PostgreSQL and an external Redis)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from qa_service.config import DBSettings, RedisSettings, Settings
from qa_service.stack import data_dir_note
from tests.conftest import REPO


def test_serve_on_a_taken_port_is_one_line_exit_2_before_anything_starts(tmp_path):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("QA_")}
        env.update({"QA_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1",
                    "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])})
        out = subprocess.run([sys.executable, "-m", "qa_service.cli", "serve", "--port", str(port), "--workers", "1"],
                             capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 2, out.stdout + out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and f"cannot listen on 127.0.0.1:{port}" in lines[0] and "--port" in lines[0], out.stderr
    assert "qa serve on" not in out.stdout  # no banner
    assert not (tmp_path / "data" / "qa.sqlite3").exists() and not (tmp_path / "data" / "worker-0.log").exists()


def test_the_banner_names_only_what_the_data_dir_holds(tmp_path):
    embedded = data_dir_note(Settings(data_dir=tmp_path), workers=2)
    assert "SQLite qa.sqlite3" in embedded and "embedded Redis" in embedded and "worker logs" in embedded
    external = data_dir_note(Settings(data_dir=tmp_path, db=DBSettings(url="postgresql+psycopg://u:pw@db/qa"),
                                      redis=RedisSettings(url="redis://redis:6379/0")), workers=0)
    assert "SQLite" not in external and "Redis" not in external and "worker logs" not in external, external
    assert external == f"data dir {tmp_path.resolve()} (pid and worker status files)"

def test_the_port_check_binds_as_uvicorn_does_localhost_is_ipv4(monkeypatch):
    """Was: the check bound the resolver's first address for ``localhost``; where that is ::1, an IPv4 port
    already taken passed it, and uvicorn (which binds ``localhost`` over IPv4) failed after the banner."""
    from qa_service.cli.serve import port_problem

    real = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, *a, **k: (
        real("::1", *a, **k) + real("127.0.0.1", *a, **k) if host == "localhost" else real(host, *a, **k)))
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        assert "cannot listen on localhost" in (port_problem("localhost", port) or "")
    assert port_problem("localhost", port) is None
