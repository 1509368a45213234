"""Imagen and Veo are metered in what Google bills them in: images and seconds of video.

The real SDK calls the emulator over loopback; the audit event and the budgets count the
images the answer carried and the seconds the request asked for, priced by the catalog.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from golden_path.exceptions import BudgetExceeded

from .conftest import FIXED_NOW

IMAGEN = "imagen-4.0-generate-001"  # 0.04 USD per image in the package's price catalog
VEO = "veo-3.0-generate-001"  # 0.40 USD per second
pytestmark = pytest.mark.filterwarnings("ignore::google.genai._common.ExperimentalWarning")


@pytest.fixture(name="make_vertex")
def _make_vertex(emulator: Any, audit: Any, tmp_path: Any) -> Callable[..., Any]:
    """Vertex clients on the emulator (Imagen and Veo are Vertex methods in the SDK)."""
    import golden_path

    key = tmp_path / "sa.json"
    emulator.create_service_account_key(key)

    def make(**overrides: Any) -> Any:
        settings: dict[str, Any] = {
            "backend": "vertex",
            "project": "emu-project",
            "location": "us-central1",
            "credentials_file": str(key),
            "base_url": emulator.url,
            "retry_attempts": 1,
        }
        settings.update(overrides)
        policies = settings.pop("policies", None)
        return golden_path.create_client(audit_sinks=[audit], policies=policies, **settings)

    return make


def _images(client: Any, n: int) -> int:
    answer = client.models.generate_images(
        model=IMAGEN, prompt="a lighthouse", config={"number_of_images": n}
    )
    return len(answer.generated_images)


def _video(client: Any, seconds: int) -> None:
    client.models.generate_videos(
        model=VEO, source={"prompt": "a red ball"}, config={"duration_seconds": seconds}
    )


def test_audit_counts_images_and_prices_them(make_vertex: Any, audit: Any) -> None:
    """The event of an Imagen call says how many images were billed and what they cost."""
    assert _images(make_vertex(), 2) == 2
    event = audit.only()
    assert (event.method, event.model) == ("predict", IMAGEN)
    assert event.billed == {"images": 2}
    assert event.cost_usd == pytest.approx(0.08)


def test_audit_counts_video_seconds(make_vertex: Any, audit: Any) -> None:
    """The event of a Veo call bills its seconds of video at the per-second price."""
    _video(make_vertex(), 5)
    event = audit.only()
    assert (event.method, event.model) == ("predictLongRunning", VEO)
    assert event.billed == {"video_seconds": 5}
    assert event.cost_usd == pytest.approx(2.0)


def test_images_budget(limits: Callable[..., list[Any]], make_vertex: Any) -> None:
    """images_per_day counts images: 2 of 3 used, the next request for 2 is refused."""
    client = make_vertex(
        team="ml", policies=limits(budgets={"images_per_day": 3}, clock=lambda: FIXED_NOW)
    )
    _images(client, 2)
    with pytest.raises(BudgetExceeded) as caught:
        _images(client, 2)
    assert caught.value.limit == "budgets.images_per_day"
    assert "2 of 3 images" in str(caught.value)
    _images(client, 1)  # what is left can still be spent


def test_video_budget(limits: Callable[..., list[Any]], make_vertex: Any) -> None:
    """video_seconds_per_day counts seconds asked for: 8 of 10 used, 8 more are refused."""
    client = make_vertex(
        team="ml", policies=limits(budgets={"video_seconds_per_day": 10}, clock=lambda: FIXED_NOW)
    )
    _video(client, 8)
    with pytest.raises(BudgetExceeded, match="video_seconds_per_day"):
        _video(client, 8)


def test_money_budget_prices_images(limits: Callable[..., list[Any]], make_vertex: Any) -> None:
    """usd_per_day charges 0.04 per image, not tokens: 0.08 fits in 0.10, 0.16 does not."""
    client = make_vertex(
        team="ml", policies=limits(budgets={"usd_per_day": 0.10}, clock=lambda: FIXED_NOW)
    )
    _images(client, 2)
    with pytest.raises(BudgetExceeded, match="usd_per_day"):
        _images(client, 2)


def test_images_spend_no_tokens(limits: Callable[..., list[Any]], make_vertex: Any) -> None:
    """An Imagen call is not billed in tokens, so a token rate limit does not hold it back."""
    policies = limits(
        rate_limits={"tokens_per_minute": 1, "max_wait_s": 0}, clock=lambda: FIXED_NOW
    )
    client = make_vertex(team="ml", policies=policies)
    assert _images(client, 1) == 1
    assert _images(client, 1) == 1


def test_a_failed_call_gives_its_images_back(
    limits: Callable[..., list[Any]], make_vertex: Any, emulator: Any
) -> None:
    """An Imagen call that fails spends no images: the reservation is released."""
    client = make_vertex(
        team="ml", policies=limits(budgets={"images_per_day": 2}, clock=lambda: FIXED_NOW)
    )
    emulator.fail_next(500)
    with pytest.raises(Exception):  # noqa: PT011, B017 - the SDK's server error
        _images(client, 2)
    assert _images(client, 2) == 2


def test_a_request_without_a_count_reserves_the_default(
    limits: Callable[..., list[Any]], make_vertex: Any
) -> None:
    """No number_of_images: Imagen may make 4, so 4 are reserved; more than the limit is refused."""
    client = make_vertex(
        team="ml", policies=limits(budgets={"images_per_day": 3}, clock=lambda: FIXED_NOW)
    )
    with pytest.raises(BudgetExceeded, match="more than the whole limit"):
        client.models.generate_images(model=IMAGEN, prompt="a lighthouse")


def test_openai_images_are_counted_too(
    limits: Callable[..., list[Any]], emulator: Any, audit: Any
) -> None:
    """The OpenAI-compatible images route bills images as Imagen does, in audit and budgets."""
    import golden_path

    client = golden_path.openai_client(
        backend="ai_studio",
        api_key="k",
        base_url=emulator.url,
        retry_attempts=1,
        team="ml",
        policies=limits(budgets={"images_per_day": 3}, clock=lambda: FIXED_NOW),
        audit_sinks=[audit],
    )
    client.images.generate(model=IMAGEN, prompt="cat", n=2)
    assert audit.events[-1].billed == {"images": 2}
    with pytest.raises(BudgetExceeded, match="images_per_day"):
        client.images.generate(model=IMAGEN, prompt="cat", n=2)


def test_a_cut_connection_gives_its_images_back(
    limits: Callable[..., list[Any]], make_vertex: Any, emulator: Any
) -> None:
    """A call whose connection drops before any answer spends no images either."""
    client = make_vertex(
        team="ml", policies=limits(budgets={"images_per_day": 2}, clock=lambda: FIXED_NOW)
    )
    emulator.drop_next()
    with pytest.raises(Exception):  # noqa: PT011, B017 - the transport's error
        _images(client, 2)
    assert _images(client, 2) == 2
