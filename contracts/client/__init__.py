"""A typed client for the quote-to-cash API, async and sync, pinned to one API version.

```python
from contracts.client import QuoteToCashClient

# secret: the client's secret (a local `fig up` generates the demo client's in var/credentials/)
with QuoteToCashClient.v2(base_url="http://127.0.0.1:8000", token_url="http://127.0.0.1:8400/oauth2/token",
                          client_id="demo", client_secret=secret) as client:
    run = client.start_run("0068d00000DEMO2AAA")     # Idempotency-Key generated (or pass one)
    run = client.get_run(run.id)
    print(run.totals)                                # [Money(amount=Decimal('3000.00'), currency='GBP')]
```

It fetches and refreshes client-credentials tokens, sends an `Idempotency-Key` on financially
material calls and an `X-Correlation-ID` on every call, retries only what is safe (honouring
`Retry-After`), raises typed `ApiError`s for problem+json answers and warns with
`ApiDeprecationWarning` when the server sends `Deprecation` or `Sunset`.
"""

from __future__ import annotations

from contracts.client._core import ClientSettings
from contracts.client.aio import AsyncQuoteToCashClient
from contracts.client.errors import (
    ApiDeprecationWarning,
    ApiError,
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    RateLimited,
    ServerError,
    TransportError,
    Unauthorized,
    Unprocessable,
)
from contracts.client.models import OrderLine, QuoteToCashRunV1, QuoteToCashRunV2
from contracts.client.sync import QuoteToCashClient

__all__ = [
    "ApiDeprecationWarning",
    "ApiError",
    "AsyncQuoteToCashClient",
    "BadRequest",
    "ClientSettings",
    "Conflict",
    "Forbidden",
    "NotFound",
    "OrderLine",
    "QuoteToCashClient",
    "QuoteToCashRunV1",
    "QuoteToCashRunV2",
    "RateLimited",
    "ServerError",
    "TransportError",
    "Unauthorized",
    "Unprocessable",
]
