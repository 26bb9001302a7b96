"""Batch event kernels: leads found by id (dense and sparse ids), unknown contacts dropped."""

from __future__ import annotations

import numpy as np

from funnelbridge.scoring.batch_events import lead_positions


def test_dense_ids_map_to_rows_and_unknown_contacts_to_minus_one() -> None:
    leads = np.array([5, 3, 4])
    events = np.array([3, 4, 5, 6, 2, 5])
    assert lead_positions(leads, events).tolist() == [1, 2, 0, -1, -1, 0]


def test_sparse_ids_map_to_rows_too() -> None:
    leads = np.array([10**12, 7, 10**9])
    events = np.array([7, 10**9 + 1, 10**12, 10**9, 0])
    assert lead_positions(leads, events).tolist() == [1, -1, 0, 2, -1]


def test_no_leads_means_no_positions() -> None:
    assert lead_positions(np.zeros(0, np.int64), np.array([1, 2])).tolist() == [-1, -1]
