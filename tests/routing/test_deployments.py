"""The deployment table by model name, and the weighted random pick."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from gemgate.routing.deployments import Deployment, DeploymentTable, pick_deployment

PICKS = 20_000


def _deployment(
    name: str, index: int, *, rpm: int | None = None, weight: float = 1.0
) -> Deployment:
    return Deployment(
        id=f"{name}#{index}",
        model_name=name,
        model=f"gemini/{name}-{index}",
        params={},
        rpm=rpm,
        weight=weight,
    )


def _shares(candidates: list[Deployment], seed: int = 7) -> dict[str, float]:
    rng = random.Random(seed)
    counts = Counter(pick_deployment(candidates, rng).id for _ in range(PICKS))
    return {deployment_id: count / PICKS for deployment_id, count in counts.items()}


def test_candidates_are_grouped_by_model_name_in_config_order() -> None:
    flash_0, pro_1, flash_2 = (
        _deployment("flash", 0),
        _deployment("pro", 1),
        _deployment("flash", 2),
    )

    table = DeploymentTable([flash_0, pro_1, flash_2])

    assert table.candidates("flash") == (flash_0, flash_2)
    assert table.candidates("pro") == (pro_1,)
    assert table.model_names() == ["flash", "pro"]


def test_unknown_model_name_has_no_candidates() -> None:
    table = DeploymentTable([_deployment("flash", 0)])

    assert table.candidates("gemini/flash") == ()
    assert "gemini/flash" not in table
    assert "flash" in table


def test_empty_table_knows_no_models() -> None:
    table = DeploymentTable([])

    assert table.model_names() == []
    assert len(table) == 0


def test_duplicate_deployment_ids_are_refused() -> None:
    with pytest.raises(ValueError, match="flash#0"):
        DeploymentTable([_deployment("flash", 0), _deployment("flash", 0)])


@pytest.mark.parametrize(
    ("candidates", "expected"),
    [
        # No weights and no limits: each equally likely.
        ([_deployment("m", 0), _deployment("m", 1), _deployment("m", 2)], [1 / 3, 1 / 3, 1 / 3]),
        # Explicit weights win over rpm.
        (
            [_deployment("m", 0, weight=3, rpm=1), _deployment("m", 1, weight=1, rpm=1000)],
            [0.75, 0.25],
        ),
        # rpm on every candidate: shares follow the limits.
        ([_deployment("m", 0, rpm=100), _deployment("m", 1, rpm=300)], [0.25, 0.75]),
        # rpm on only some candidates: not comparable, so even.
        ([_deployment("m", 0, rpm=100), _deployment("m", 1)], [0.5, 0.5]),
    ],
)
def test_picks_follow_weights_then_rpm_then_uniform(
    candidates: list[Deployment], expected: list[float]
) -> None:
    shares = _shares(candidates)

    for deployment, share in zip(candidates, expected, strict=True):
        assert shares[deployment.id] == pytest.approx(share, abs=0.02)


def test_same_seed_gives_the_same_picks() -> None:
    candidates = [_deployment("m", index) for index in range(4)]

    first = [pick_deployment(candidates, random.Random(3)).id for _ in range(5)]
    second = [pick_deployment(candidates, random.Random(3)).id for _ in range(5)]

    assert first == second


def test_single_candidate_is_picked_without_drawing() -> None:
    only = _deployment("m", 0)
    rng = random.Random(11)
    state = rng.getstate()

    assert pick_deployment([only], rng) is only
    assert rng.getstate() == state


def test_no_candidates_is_an_error() -> None:
    with pytest.raises(ValueError, match="no deployment"):
        pick_deployment([], random.Random(0))
