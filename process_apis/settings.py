"""Settings of the process API: where the system APIs are, its service identity, worker tuning."""

from __future__ import annotations

from servicekit import ServiceSettings

__all__ = ["ProcessSettings"]


class ProcessSettings(ServiceSettings, kw_only=True, frozen=True):
    """`FIG_`-prefixed environment; defaults fit the local stack (`fig up`)."""

    port: int = 8100
    #: The audience this API accepts: tokens the gateway obtained for it by token exchange. Consumer
    #: tokens (audience `fig`) are refused, so the gateway's policies cannot be bypassed.
    token_audience: str = "fig-process"
    crm_url: str = "http://127.0.0.1:8201"
    erp_url: str = "http://127.0.0.1:8202"
    planning_url: str = "http://127.0.0.1:8203"
    #: The process API's own client-credentials identity at the identity provider. The secret has
    #: no default: `fig up` generates one; elsewhere a missing FIG_CLIENT_SECRET stops start-up.
    client_id: str = "process-api"
    client_secret: str | None = None
    #: Run the background workers (work queue, booking events, sweep) in this process.
    workers: bool = True
    #: Work-queue consumers per process; any number of processes share one consumer group. The work
    #: is I/O-bound (each consumer mostly waits on the system APIs): 4 left the 2-core benchmark
    #: stack at 77 % CPU, 16 saturated it (bench/README.md).
    worker_concurrency: int = 8
    #: Seconds between sweeps of runs waiting for ERP booking (safety net for lost events).
    booking_sweep_interval: float = 5.0
    #: Seconds between the sweep's escalations of exceptions past their SLA (exceptions/escalation.py).
    escalation_interval: float = 60.0
    #: Seconds between samples of stream depths and the exception queue for `/metrics`.
    metrics_interval: float = 15.0
    #: The sweep reads the ERP for a waiting run once it has waited this long (None: three sweep
    #: intervals; its booking event normally moves it on before), then again as often as it has
    #: waited so far, at most every 60 s (process_apis/workers.py).
    booking_check_after: float | None = None
    #: Step retries after the first attempt on a transient downstream failure, and their backoff (s).
    step_retries: int = 3
    retry_backoff: float = 0.5
    retry_max_backoff: float = 10.0
    #: A run whose step finds a system unavailable (retries spent) waits at its gate this long (s),
    #: checking again with growing spacing up to `outage_recheck_max` s, before it becomes an exception.
    outage_horizon: float = 4 * 3600.0
    outage_recheck_max: float = 60.0
    #: Per-run lock lease and how long a worker waits for a busy run before leaving the work pending (s).
    #: A live worker renews its leases every third of `lock_ttl`; a dead worker's expire after it.
    lock_ttl: float = 6.0
    lock_wait: float = 2.0
    #: A work or event entry left pending this long by a dead consumer is claimed by another (s).
    claim_idle: float = 5.0
    #: A consumer of the work and event groups idle this long with nothing pending is a dead
    #: instance's and is removed from its group (s).
    consumer_expiry: float = 120.0
    #: How long a consumer blocks on an empty stream before checking for shutdown (s).
    stream_block: float = 1.0
    #: Timeouts and transport-level retries of the calls to the system APIs.
    http_timeout: float = 10.0
    http_retries: int = 2
    #: The mapping set runs use (seeded from `process_apis/controls/mappings/<name>-v<n>.json`,
    #: then versioned through `PUT /v1/mappings/<name>`), the rule set and the exception policy.
    mapping_set: str = "default"
    rule_set: str = "quote-to-cash"
    exception_policy: str = "exception-policy-v1"
    #: Batch forecast commits: one planning import per window of bookings (s); 0 loads each run alone.
    forecast_window: float = 0.5
    forecast_batch_max: int = 500
    #: Seconds a CRM account learned from a change event or a read is reused to validate further
    #: deals (workflows/accounts.py); 0 reads the CRM for every deal.
    account_cache_ttl: float = 300.0
    #: Seconds an ERP customer resolved by quote-to-cash is reused for further deals with the same
    #: values instead of upserting again (workflows/customers.py; dropped on `erp.customer.changed`).
    customer_cache_ttl: float = 300.0
    #: Seconds an entity's ERP accounting periods are reused by quote-to-cash's closed-period check
    #: (workflows/periods.py; dropped when the ERP reports a period of the entity closed); 0 reads
    #: the ERP for every order.
    period_cache_ttl: float = 60.0
    #: Seconds the ERP's tax codes are kept (workflows/taxes.py); 0 reads them for every run. A
    #: person's retry of a run always reads them.
    tax_code_cache_ttl: float = 300.0
    #: Run the scheduler in this process (with the workers): one leader among the instances that do
    #: runs the schedules (process_apis/scheduling/). `schedules` names the shipped TOML
    #: (`process_apis/scheduling/schedules/<name>.toml`) or is a path ending `.toml`; it is
    #: validated at start-up. Every instance ticks every `scheduler_tick` s; the leader's lease
    #: lapses `scheduler_lease_ttl` s after it stops renewing it (another instance takes over).
    scheduler: bool = True
    schedules: str = "default"
    scheduler_tick: float = 5.0
    scheduler_lease_ttl: float = 30.0
    #: Seconds between the scheduler leader's reads of the planning versions (`GET /v1/forecast-versions`):
    #: a version seen published, or no longer published, is recorded (`GET /v1/planning-versions`,
    #: audit log). 0 turns the watch off (reconciliations still record the version they read).
    version_watch: float = 300.0
    #: Seconds between the scheduler leader's records of each entity's ops figures of the day (the
    #: history behind trends over days; 0: none recorded).
    ops_history_interval: float = 300.0
    #: Four eyes: mapping-set changes and exception outcomes that close an exception outside the
    #: normal flow (resolve, dead-letter) are proposals a second person approves
    #: (`/v1/proposals`); the direct operations answer 409 `approval-required`. On by default so
    #: that a deployment which forgets the variable keeps the control (fail closed); turning it
    #: off is a deliberate choice, for a single-operator test bench.
    four_eyes: bool = True
    #: Consume CRM events: `crm.opportunity.approved.v1` starts quote-to-cash runs,
    #: `crm.account.changed.v1` customer master syncs (consumer group).
    consume_crm_events: bool = True

    @property
    def token_url(self) -> str:
        return f"{self.idp_url.rstrip('/')}/oauth2/token"
