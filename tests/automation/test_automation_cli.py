"""The CLI shells: user add/list/away, outbox (list, --failed, --retry), worker --once; and the users service."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from automation_helpers import WebhookReceiver

from funnelbridge.automation import enqueue
from funnelbridge.bootstrap import init_project, open_runtime
from funnelbridge.cli import main
from funnelbridge.cli.app import state
from funnelbridge.domain.clock import utcnow
from funnelbridge.errors import InputError, NotFoundError
from funnelbridge.runtime import Runtime
from funnelbridge.settings import Settings
from funnelbridge.users import add_user, list_users, set_away


@pytest.fixture
def settings(tmp_path: Path, webhook_receiver: WebhookReceiver, monkeypatch: pytest.MonkeyPatch) -> Settings:
    s = Settings(
        database_url=f"sqlite:///{tmp_path}/cli.db",
        playbook=str(tmp_path / "playbook.yaml"),
        webhook_url=webhook_receiver.url,
        smtp_port=1,
    )
    init_project(s)
    monkeypatch.setattr(state(), "_settings", s)
    monkeypatch.setenv("COLUMNS", "200")
    return s


@pytest.fixture
def runtime(settings: Settings) -> Iterator[Runtime]:
    rt = open_runtime(settings)
    yield rt
    rt.db.dispose()


def test_open_runtime_installs_automation_once(runtime: Runtime) -> None:
    from funnelbridge.automation import AutomationHandler, install

    install(runtime)
    assert sum(isinstance(h, AutomationHandler) for h in runtime.bus.handlers) == 1


def test_users_service_validates_and_links_managers(runtime: Runtime) -> None:
    boss = add_user(runtime, "Boss@Acme.test ", "Boss", "admin", team="leadership")
    rep = add_user(runtime, "rep@acme.test", "Rep", "sales", manager_email="boss@acme.test", capacity_per_week=5)
    assert [u.email for u in list_users(runtime)] == ["boss@acme.test", "rep@acme.test"]
    assert list_users(runtime, team="default")[0].manager_id == boss
    assert set_away(runtime, "rep@acme.test").away is True
    assert set_away(runtime, "rep@acme.test", away=False).away is False
    with pytest.raises(InputError, match="exists already"):
        add_user(runtime, "rep@acme.test", "Again", "sales")
    with pytest.raises(InputError, match="role"):
        add_user(runtime, "x@acme.test", "X", "wizard")
    with pytest.raises(InputError, match="email"):
        add_user(runtime, "not-an-email", "X", "sales")
    with pytest.raises(NotFoundError, match="manager"):
        add_user(runtime, "y@acme.test", "Y", "sales", manager_email="nobody@acme.test")
    with pytest.raises(NotFoundError):
        set_away(runtime, "nobody@acme.test")
    assert rep == 2


def test_user_commands(settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["user", "add", "boss@acme.test", "--name", "Boss", "--role", "admin", "--team", "lead"]) == 0
    assert main(["user", "add", "rep@acme.test", "--name", "Rep", "--manager", "boss@acme.test"]) == 0
    assert main(["user", "away", "rep@acme.test"]) == 0
    assert main(["user", "list"]) == 0
    out = capsys.readouterr().out
    assert "added user rep@acme.test (id 2, sales, team default)" in out
    assert "rep@acme.test is now away" in out
    assert "boss@acme.test" in out.split("users")[-1] and "away" in out
    assert main(["user", "add", "rep@acme.test", "--name", "Rep"]) == 1
    assert "exists already" in capsys.readouterr().err


def test_worker_once_and_outbox_commands(
    runtime: Runtime, webhook_receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    with runtime.db.transaction() as conn:
        enqueue(conn, key="cli-ok", kind="webhook", payload={"lead": {"id": 1}}, at=utcnow())
        enqueue(conn, key="cli-bad", kind="email", payload={"to": [], "missing": "nobody"}, at=utcnow())
    assert main(["worker", "--once"]) == 0
    assert "delivered 1" in capsys.readouterr().out
    assert webhook_receiver.keys == {"cli-ok": 1}
    assert main(["outbox"]) == 0
    out = capsys.readouterr().out
    assert "cli-ok" in out and "cli-bad" in out and "pending 0, done 1, dead 1" in out
    assert main(["outbox", "--failed"]) == 0
    failed = capsys.readouterr().out
    assert "cli-bad" in failed and "cli-ok" not in failed and "no recipient" in failed
    assert main(["outbox", "--retry", "2"]) == 0
    assert "action 2 (email) is queued again" in capsys.readouterr().out
    assert main(["outbox", "--retry", "1"]) == 1
    assert "delivered already" in capsys.readouterr().err
    assert main(["outbox", "--purge", "0s"]) == 0
    assert "deleted 1 delivered actions older than 0s" in capsys.readouterr().out
    assert main(["outbox", "--purge", "soon"]) == 1
    assert "--purge" in capsys.readouterr().err


def test_timers_survive_a_restart(settings: Settings) -> None:
    from datetime import timedelta

    from sqlalchemy import insert

    from funnelbridge.automation import fire_due_timers
    from funnelbridge.domain.clock import FrozenClock
    from funnelbridge.domain.events import StageEntered
    from funnelbridge.store.tables import contacts, pipeline_states

    clock = FrozenClock()
    first = open_runtime(settings, clock=clock)
    now = clock.now()
    with first.db.transaction() as conn:
        cid = conn.execute(
            insert(contacts)
            .values(email="a@corp.test", created_at=now, updated_at=now, version=1, unsubscribed=False, bounced=False)
            .returning(contacts.c.id)
        ).scalar()
        conn.execute(
            insert(pipeline_states).values(
                contact_id=cid, pipeline="main", stage="mql", entered_at=now, journey=1, version=1
            )
        )
        first.bus.publish(conn, StageEntered(int(cid), now, "main", "mql", "mal", 1))  # type: ignore[arg-type]
    first.db.dispose()  # the process ends
    clock.advance(timedelta(days=10))
    second = open_runtime(settings, clock=clock)
    assert fire_due_timers(second) == 2  # reminder and breach of the SAL decision clock
    second.db.dispose()
