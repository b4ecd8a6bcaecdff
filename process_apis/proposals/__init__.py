"""Four eyes: proposals of mapping-set versions and exception outcomes, approved by a second person."""

from __future__ import annotations

from process_apis.proposals.model import Proposal, ProposalPage
from process_apis.proposals.service import Proposals
from process_apis.proposals.store import ProposalStore

__all__ = ["Proposal", "ProposalPage", "ProposalStore", "Proposals"]
