"""`fig serve <service>`: serve one service, configured by its FIG_* environment."""

from __future__ import annotations

import os

from deploy.services import BY_NAME
from servicekit.server import serve

__all__ = ["TLS_CERTIFICATE_ENV", "TLS_KEY_ENV", "serve_service"]

#: With both set (PEM certificate chain, PKCS#8 key) the service serves HTTPS.
TLS_CERTIFICATE_ENV = "FIG_TLS_CERTIFICATE"
TLS_KEY_ENV = "FIG_TLS_KEY"


def serve_service(name: str) -> None:
    """Run service `name` on granian; `FIG_WORKERS` processes (default 1), `FIG_HOST`/`FIG_PORT`;
    HTTPS when `FIG_TLS_CERTIFICATE` and `FIG_TLS_KEY` are set."""
    spec = BY_NAME[name]
    serve(
        spec.factory,
        os.environ.get("FIG_HOST", "127.0.0.1"),
        int(os.environ.get("FIG_PORT", spec.port)),
        workers=int(os.environ.get("FIG_WORKERS", "1")),
        log_level=os.environ.get("FIG_SERVER_LOG_LEVEL", "warning"),
        reload_in_worker=spec.reload_in_worker,
        ssl_certificate=os.environ.get(TLS_CERTIFICATE_ENV),
        ssl_keyfile=os.environ.get(TLS_KEY_ENV),
    )
