"""Child process of the sandbox crash tests: serves one vendor sandbox until it is SIGKILLed.

    python -m tests.system_apis.sandbox_child <salesforce|netsuite|anaplan> <data dir> <port>

Uvicorn in the foreground, so a SIGKILL stops the process with no lifespan shutdown: no
compaction, only what the journal already holds survives.
"""

from __future__ import annotations

import sys
from typing import Any

import uvicorn

__all__ = ["build", "main"]


def build(kind: str, data_dir: str) -> Any:
    """The sandbox app of `kind`, persisting under `data_dir`."""
    if kind == "salesforce":
        from system_apis.crm.sandbox import SalesforceSandboxSettings
        from system_apis.crm.sandbox import create_app as create_salesforce

        return create_salesforce(SalesforceSandboxSettings(data_dir=data_dir))
    if kind == "netsuite":
        from system_apis.erp.sandbox import SandboxSettings
        from system_apis.erp.sandbox import create_app as create_netsuite

        return create_netsuite(SandboxSettings(data_dir=data_dir))
    from system_apis.planning.sandbox import AnaplanSandboxSettings
    from system_apis.planning.sandbox import create_app as create_anaplan

    return create_anaplan(AnaplanSandboxSettings(data_dir=data_dir, task_delay=0.05))


def main() -> None:
    kind, data_dir, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    uvicorn.run(build(kind, data_dir), host="127.0.0.1", port=port, log_level="warning", log_config=None)


if __name__ == "__main__":
    main()
