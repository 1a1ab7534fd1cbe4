"""Broker test fixtures beyond the shared ones in tests/services/conftest.py."""

from tests.services.conftest import PARTITIONS, eventually, group_is_gone

__all__ = ["PARTITIONS", "eventually", "group_is_gone"]
