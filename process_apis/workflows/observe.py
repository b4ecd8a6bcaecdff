"""What a workflow run tells operations: span attributes and metrics per gate and per outcome.

Every span of a run (the drive, each gate) carries the correlation id, legal entity, workflow,
run id and gate, so a tracing backend finds a run by any of them. Metrics: the time each gate
took (`fig.workflow.gate.duration`) and the runs that reached an outcome (`fig.workflow.runs`:
completed or parked), per workflow and legal entity.
"""

from __future__ import annotations

from opentelemetry import metrics

from process_apis.schemas import QuoteToCashRun

__all__ = ["WORKFLOW", "record_gate", "record_outcome", "run_attributes"]

WORKFLOW = "quote_to_cash"
_meter = metrics.get_meter("process_apis.workflows")
_gate_duration = _meter.create_histogram(
    "fig.workflow.gate.duration",
    unit="s",
    description="Time a workflow step took to pass its gate, per workflow, gate and legal entity.",
    explicit_bucket_boundaries_advisory=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0),
)
_runs = _meter.create_counter(
    "fig.workflow.runs",
    unit="{run}",
    description="Runs that reached an outcome (completed, parked), per workflow and entity.",
)


def run_attributes(run: QuoteToCashRun) -> dict[str, str]:
    """The attributes every span of `run` carries."""
    attributes = {"fig.workflow": WORKFLOW, "fig.run_id": run.id, "fig.gate": run.state}
    if run.correlation_id:
        attributes["fig.correlation_id"] = run.correlation_id
    if run.legal_entity:
        attributes["fig.legal_entity"] = run.legal_entity
    return attributes


def record_gate(run: QuoteToCashRun, seconds: float) -> None:
    """`run` just passed the gate it is in now, in `seconds`."""
    _gate_duration.record(
        seconds, {"fig.workflow": WORKFLOW, "fig.gate": run.state, "fig.legal_entity": run.legal_entity or "-"}
    )


def record_outcome(run: QuoteToCashRun, outcome: str) -> None:
    """`run` reached `outcome` (`completed` or `parked`)."""
    _runs.add(
        1,
        {
            "fig.workflow": WORKFLOW,
            "fig.outcome": outcome,
            "fig.gate": run.state,
            "fig.legal_entity": run.legal_entity or "-",
        },
    )
