"""Fault-suite fixtures, shared with the suites they build on: the gateway tests' IdP, fake upstream
and gateway factory, and the process API tests' fake system APIs."""

from tests.gateway.conftest import idp, make_gateway, upstream
from tests.process_apis.conftest import served, systems

__all__ = ["idp", "make_gateway", "served", "systems", "upstream"]
