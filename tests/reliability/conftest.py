"""Fault-suite fixtures: the gateway tests' IdP, fake upstream and gateway factory, shared."""

from tests.gateway.conftest import idp, make_gateway, upstream

__all__ = ["idp", "make_gateway", "upstream"]
