"""``funnelbridge funnel``: the real command on CSV/Parquet files, exact JSON, and one-line input errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from funnelbridge.analytics.event_funnel_engines import connect
from funnelbridge.analytics.event_funnel_load import read_events
from funnelbridge.analytics.event_funnel_spec import (
    Exclusion,
    FunnelSpec,
    Order,
    Step,
    build_spec,
    parse_exclusion,
    parse_step,
)
from funnelbridge.cli import main
from funnelbridge.errors import EngineError, InputError

CSV = """person_id,event,timestamp,plan,path
p1,signup,2024-01-01T00:00:00Z,free,
p1,pageview,2024-01-01T00:00:10Z,free,/pricing
p1,purchase,2024-01-01T00:01:10Z,free,
p2,signup,2024-01-01T02:00:00+02:00,,
p2,pageview,2024-01-01T00:00:30Z,,/pricing
p3,signup,2024-01-01T00:00:00,pro,
p3,pageview,2024-01-03T00:00:00Z,pro,/docs
p4,pageview,2024-01-01T00:00:00Z,pro,/pricing
"""


def _step(name: str, count: int, prev: float, first: float, avg: float | None, med: float | None) -> dict[str, object]:
    return {
        "name": name,
        "count": count,
        "conversion_from_previous": prev,
        "conversion_from_first": first,
        "average_seconds_to_convert": avg,
        "median_seconds_to_convert": med,
    }


@pytest.fixture
def events_csv(tmp_path: Path) -> Path:
    path = tmp_path / "events.csv"
    path.write_text(CSV, encoding="utf-8")
    return path


def test_json_output_is_exact(events_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["funnel", str(events_csv), "--step", "signup", "--step", "pageview:path=/pricing", "--step", "purchase"]
    assert main([*argv, "--window", "1h", "--breakdown", "plan", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == {
        "steps": [
            _step("signup", 3, 1.0, 1.0, None, None),
            _step("pageview:path=/pricing", 2, 2 / 3, 2 / 3, 20.0, 20.0),
            _step("purchase", 1, 0.5, 1 / 3, 60.0, 60.0),
        ],
        "breakdown": {
            "": {"steps": [_step("signup", 1, 1.0, 1.0, None, None),
                           _step("pageview:path=/pricing", 1, 1.0, 1.0, 30.0, 30.0),
                           _step("purchase", 0, 0.0, 0.0, None, None)]},
            "free": {"steps": [_step("signup", 1, 1.0, 1.0, None, None),
                               _step("pageview:path=/pricing", 1, 1.0, 1.0, 10.0, 10.0),
                               _step("purchase", 1, 1.0, 1.0, 60.0, 60.0)]},
            "pro": {"steps": [_step("signup", 1, 1.0, 1.0, None, None),
                              _step("pageview:path=/pricing", 0, 0.0, 0.0, None, None),
                              _step("purchase", 0, 0.0, 0.0, None, None)]},
        },
    }  # fmt: skip


def test_json_without_breakdown_has_no_breakdown_key(events_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["funnel", str(events_csv), "--step", "signup", "--step", "pageview", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) == {"steps"}
    assert [s["count"] for s in out["steps"]] == [3, 3]  # p3's pageview two days later is inside the default 14d
    assert out["steps"][1]["average_seconds_to_convert"] == pytest.approx((10 + 30 + 172800) / 3, abs=1e-6)
    assert out["steps"][1]["median_seconds_to_convert"] == 30.0


def test_parquet_and_rich_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "events.parquet"
    frame = pd.DataFrame(
        {
            "person_id": [1, 1, 2],
            "event": ["a", "b", "a"],
            "timestamp": pd.to_datetime(["2024-01-01T00:00:00Z", "2024-01-01T00:00:05Z", "2024-01-01T00:00:00Z"]),
        }
    )
    frame.to_parquet(path)
    assert main(["funnel", str(path), "--step", "a", "--step", "b", "--order", "strict"]) == 0
    out = capsys.readouterr().out
    assert "event funnel" in out and "50.0%" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--step", "signup", "--step", "x:nope"], "step 'x:nope': expected EVENT:PROP=VALUE"),
        (["--step", "signup", "--order", "sideways"], "--order: expected ordered, strict or unordered"),
        (["--step", "signup", "--window", "soon"], "--window: expected a duration"),
        (["--step", "a", "--step", "b", "--exclude", "x@2-1"], "range 2-1 must satisfy"),
        (["--step", "a", "--step", "b", "--exclude", "x@one-two"], "expected EVENT@FROM-TO"),
        (["--step", "a", "--step", "b", "--breakdown", "missing"], "missing column(s) missing"),
    ],
)
def test_bad_input_prints_one_line(
    events_csv: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["funnel", str(events_csv), *args, "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert message in captured.err
    assert "Traceback" not in captured.err
    assert len(captured.err.strip().splitlines()) == 1


def test_unknown_or_misconfigured_engine_is_one_line(events_csv: Path, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["funnel", str(events_csv), "--step", "signup", "--json"]
    assert main([*base, "--engine", "oracle"]) == 1
    assert "unknown engine 'oracle'" in capsys.readouterr().err
    assert main([*base, "--engine", "postgres", "--engine-url", "sqlite:///x.db"]) == 1
    assert "postgres: expected a postgresql:// URL" in capsys.readouterr().err
    with pytest.raises(EngineError, match="unknown engine"):
        connect("oracle")


def test_loader_names_row_and_column(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("person_id,event,timestamp\np,a,2024-01-01T00:00:00Z\np,b,yesterday\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 2 timestamp: cannot parse 'yesterday' as an ISO 8601 timestamp"):
        read_events(path)
    path.write_text("person_id,event\np,a\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"missing column\(s\) timestamp"):
        read_events(path)
    path.write_text("person_id,event,timestamp\n,a,2024-01-01\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"row 1 person_id: it is empty"):
        read_events(path)


def test_parsing_of_steps_and_exclusions() -> None:
    assert parse_step("pageview:path=/a=b").filters == (("path", "/a=b"),)
    assert parse_exclusion("cancel").to_step is None
    excl = parse_exclusion("cancel:reason=x@1-3")
    assert (excl.step.name, excl.from_step, excl.to_step) == ("cancel:reason=x", 1, 3)
    spec = build_spec(["a", "b"], window="15s", order="STRICT", exclude=[], breakdown=None)
    assert spec.order is Order.STRICT and spec.window_us == 15_000_000
    with pytest.raises(InputError, match="unordered funnels only allow exclusions over the whole funnel"):
        build_spec(["a", "b", "c"], window="1d", order="unordered", exclude=["x@1-2"], breakdown=None)
    with pytest.raises(InputError, match="cannot contain an event that is part of the funnel's steps"):
        build_spec(["a", "b"], window="1d", order="ordered", exclude=["a"], breakdown=None)


@pytest.mark.parametrize(
    ("steps", "exclusion", "rejected_step"),
    [
        (["a", "b", "c"], "b@1-2", 2),  # equal to a step in its range
        (["a", "c", "d"], "c:k=v@1-3", 2),  # the step matches every event the exclusion matches (PostHog's superset)
    ],
)
def test_exclusions_covered_by_a_step_in_their_range_are_rejected(
    steps: list[str], exclusion: str, rejected_step: int
) -> None:
    """PostHog's validation: an exclusion may not be equal to, or a narrower version of, a step in its range."""
    with pytest.raises(InputError, match=rf"step {rejected_step} \("):
        build_spec(steps, window="1d", order="ordered", exclude=[exclusion], breakdown=None)


def test_exclusion_filters_compare_as_a_set() -> None:
    step = Step("a", (("j", "w"), ("k", "v")))
    with pytest.raises(InputError, match=r"step 1 \("):
        FunnelSpec((step, Step("b")), exclusions=(Exclusion(Step("a", (("k", "v"), ("j", "w"))), 1, 2),))


@pytest.mark.parametrize(
    ("steps", "exclusion"),
    [
        (["a", "b", "c"], "c@1-2"),  # equal to a step outside its range
        (["a", "c:k=v", "d"], "c@1-3"),  # wider than the step: it also matches events the step does not
        (["a", "c:k=v", "d"], "c:k=w@1-3"),  # another value of the step's property
        (["a", "c:k=v", "d"], "c:j=w@1-3"),  # another property
    ],
)
def test_exclusions_a_step_does_not_cover_are_allowed(steps: list[str], exclusion: str) -> None:
    assert build_spec(steps, window="1d", order="ordered", exclude=[exclusion], breakdown=None).exclusions
