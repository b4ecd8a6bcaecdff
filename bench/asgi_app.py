"""A representative service for the ASGI-server benchmark: servicekit app, one canonical GET."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

from litestar import get
from litestar.params import FromPath

from contracts import Money, Opportunity
from servicekit import ServiceSettings, create_service_app


@get("/v1/opportunities/{opportunity_id:str}", operation_id="get_opportunity", sync_to_thread=False)
def get_opportunity(opportunity_id: FromPath[str]) -> Opportunity:
    return Opportunity(
        id=opportunity_id,
        name="Bench",
        account_id="001",
        stage="Closed Won",
        is_closed=True,
        is_won=True,
        approval_status="approved",
        amount=Money(amount=Decimal("14400.00"), currency="EUR"),
        close_date=date(2026, 11, 30),
        last_modified=datetime(2026, 11, 27, tzinfo=UTC),
    )


app = create_service_app(
    name="bench",
    settings=ServiceSettings(log_level="WARNING"),
    route_handlers=[get_opportunity],
    use_redis=False,
    auth=False,
)
