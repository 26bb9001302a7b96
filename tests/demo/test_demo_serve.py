"""After the demo, the dashboard is served over its database: the printed login works, Ctrl-C stops it cleanly."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from funnelbridge.cli import app
from funnelbridge.demo.serve import DEMO_ADMIN, DEMO_PASSWORD, dashboard_available

pytestmark = pytest.mark.skipif(not dashboard_available(), reason="the web dashboard extra is not installed")

_SERVER = """
import sys
import time
from funnelbridge.demo.serve import serve_dashboard
from funnelbridge.playbook.examples import example_path
from funnelbridge.settings import Settings
settings = Settings(database_url=sys.argv[1], playbook=str(example_path("b2b")))
serve_dashboard(settings, port=int(sys.argv[2]), ready=lambda login: print(login.url, login.email, flush=True))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_printed_login_opens_the_dashboard_and_ctrl_c_stops_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/demo.db"
    args = ["demo", "--leads", "60", "--days", "3", "--seed", "5", "--db", url, "--reset", "--no-serve"]
    assert CliRunner().invoke(app, args).exit_code == 0
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", _SERVER, url, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        printed = proc.stdout.readline().split()
        assert printed == [f"http://127.0.0.1:{port}/", DEMO_ADMIN]
        with httpx.Client(base_url=printed[0], timeout=10) as client:
            token = re.search(r'name="csrf" value="([^"]+)"', _login_page(client)).group(1)  # type: ignore[union-attr]
            form = {"email": DEMO_ADMIN, "password": DEMO_PASSWORD, "csrf": token}
            assert client.post("/login", data=form).status_code == 303
            home = client.get("/", follow_redirects=True)
            assert home.status_code == 200 and "/login" not in str(home.url)
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "Traceback" not in err


def _login_page(client: httpx.Client) -> str:
    for _ in range(200):
        try:
            page = client.get("/login")
            if page.status_code == 200:
                return page.text
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    raise AssertionError("the dashboard did not come up")
