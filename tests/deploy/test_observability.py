"""The shipped alert rules pass `promtool` (syntax and unit tests) and the dashboard has both views."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from deploy.tools import find_promtool

DIR = Path(__file__).resolve().parents[2] / "deploy" / "observability"
#: Metric names in PromQL (ours and the semantic-convention HTTP ones), without histogram suffixes.
METRIC = re.compile(r"(?<![.\w])((?:fig|http)_[a-z_]+?)(?:_bucket|_count|_sum)?\b")
#: What in a query names labels, not metrics: `by (...)` groupings and `{...}` matchers.
LABELS = re.compile(r"\bby \([^)]*\)|\{[^}]*\}")


def referenced_metrics() -> set[str]:
    """Every metric the alert rules and the dashboard query."""
    alerts = (DIR / "alerts.yml").read_text()
    dashboard = json.loads((DIR / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    queries = [*exprs, *re.findall(r"expr: (?:\|\n)?(.*?)\n\s+(?:for|labels):", alerts, re.S)]
    return {name for query in queries for name in METRIC.findall(LABELS.sub(" ", query))}


@pytest.fixture(scope="module")
def promtool() -> str:
    return find_promtool()


def test_alert_rules_pass_promtool_check(promtool: str) -> None:
    done = subprocess.run(
        [promtool, "check", "rules", str(DIR / "alerts.yml")], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_alert_rules_fire_as_their_unit_tests_expect(promtool: str) -> None:
    done = subprocess.run(
        [promtool, "test", "rules", "alerts_test.yml"], capture_output=True, text=True, cwd=DIR, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_promtool_refuses_a_broken_rule(promtool: str, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    broken.write_text("groups:\n  - name: x\n    rules:\n      - alert: X\n        expr: sum(rate(fig_x[5m])\n")
    done = subprocess.run([promtool, "check", "rules", str(broken)], capture_output=True, text=True, check=False)
    assert done.returncode != 0


def test_dashboard_has_a_finance_and_a_technical_view() -> None:
    dashboard = json.loads((DIR / "grafana-dashboard.json").read_text())
    rows = [p["title"] for p in dashboard["panels"] if p["type"] == "row"]
    assert rows == ["Finance view", "Technical view"]
    queries = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert all(p["targets"] and all(t["expr"] for t in p["targets"]) for p in queries)
    assert {v["name"] for v in dashboard["templating"]["list"]} >= {"datasource", "entity", "job"}
    assert "fig_workflow_runs_total" in referenced_metrics()
