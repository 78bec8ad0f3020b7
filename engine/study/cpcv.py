"""Combinatorial purged cross-validation (López de Prado): N groups, k test groups.

Bars are cut into N contiguous groups. Each split tests on k groups and trains on the rest,
minus `purge` bars just before each test block and `embargo` bars just after it, so no
training bar sits within the embargo of a test bar.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

Range = tuple[int, int]  # [start, stop)


@dataclass(frozen=True)
class Split:
    index: int
    test_groups: tuple[int, ...]
    train: tuple[Range, ...]  # contiguous training segments
    test: tuple[Range, ...]   # contiguous test blocks (adjacent test groups merged)


def group_bounds(n_bars: int, n_groups: int) -> list[Range]:
    if n_groups < 2 or n_bars < n_groups:
        raise ValueError(f"need at least 2 groups and one bar per group ({n_bars} bars, "
                         f"{n_groups} groups)")
    edges = [round(i * n_bars / n_groups) for i in range(n_groups + 1)]
    return [(edges[i], edges[i + 1]) for i in range(n_groups)]


def _merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for a, b in sorted(ranges):
        if out and a <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def cpcv_splits(n_bars: int, n_groups: int, k_test: int, embargo: int = 0,
                purge: int = 0, offset: int = 0) -> list[Split]:
    """All C(N, k) splits over bars [offset, offset + n_bars)."""
    if not 1 <= k_test < n_groups:
        raise ValueError(f"need 1 <= k_test < n_groups (k={k_test}, N={n_groups})")
    bounds = group_bounds(n_bars, n_groups)
    splits = []
    for i, test_groups in enumerate(combinations(range(n_groups), k_test)):
        test = _merge([bounds[g] for g in test_groups])
        banned = _merge([(max(0, a - purge), min(n_bars, b + embargo)) for a, b in test])
        train: list[Range] = []
        cursor = 0
        for a, b in banned:
            if a > cursor:
                train.append((cursor, a))
            cursor = b
        if cursor < n_bars:
            train.append((cursor, n_bars))
        splits.append(Split(
            index=i, test_groups=tuple(test_groups),
            train=tuple((a + offset, b + offset) for a, b in train),
            test=tuple((a + offset, b + offset) for a, b in test)))
    return splits
