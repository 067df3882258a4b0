"""The isolation tests' two clients, made once per module: their tests are hundreds, and none is transactional."""

from __future__ import annotations

import copy

import pytest

from ..fixtures.tenants import Client_


@pytest.fixture
def alpha(db, shared_tenants) -> Client_:
    """Alpha, made once for the module (its tests are hundreds, and none is transactional)."""
    return copy.deepcopy(shared_tenants[0])


@pytest.fixture
def bravo(db, shared_tenants) -> Client_:
    return copy.deepcopy(shared_tenants[1])
