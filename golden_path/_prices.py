"""The price catalog: what one request costs in money, by Google's billing semantics.

Read once per file from ``golden_path/prices.toml`` (package defaults) or the platform's
``price_file``. Used by the audit event (``cost_usd``) and by budgets in money
(``usd_per_day``, ``usd_per_month``). Prices are per million tokens; see prices.toml for how
each kind of token is billed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import difflib
import math
import threading
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from golden_path._model import Usage
from golden_path.exceptions import ConfigError, ConfigProblem

__all__ = [
    "Cost",
    "Price",
    "PriceCatalog",
    "billed_units",
    "load_catalog",
    "price_key",
    "request_cost",
    "request_cost_parts",
]

_PER_TOKEN_KEYS = (
    "input",
    "output",
    "cached_input",
    "audio_input",
    "long_input",
    "long_output",
    "long_cached_input",
    "cache_storage_per_hour",
)
_OTHER_KEYS = ("long_context_threshold", "per_image", "per_second", "batch_discount")
_MODEL_KEYS = (*_PER_TOKEN_KEYS, *_OTHER_KEYS)
_TOP_KEYS = ("currency", "updated", "batch_discount", "models")
_MAX_FILE_BYTES = 4 * 1024 * 1024
_MILLION = 1_000_000


@dataclasses.dataclass(frozen=True, slots=True)
class Price:
    """One model's prices (USD per 1M tokens; per image; per second of video)."""

    input: float | None = None
    output: float | None = None
    cached_input: float | None = None
    audio_input: float | None = None
    long_context_threshold: int | None = None
    long_input: float | None = None
    long_output: float | None = None
    long_cached_input: float | None = None
    cache_storage_per_hour: float | None = None
    per_image: float | None = None
    per_second: float | None = None
    batch_discount: float = 1.0


@dataclasses.dataclass(frozen=True, slots=True)
class Cost:
    """What one request cost: USD, and the tokens of each billed kind."""

    usd: float
    tokens: dict[str, int]


def price_key(model: str) -> str:
    """The catalog's spelling of a model name: no ``models/`` or publisher prefix."""
    name = model.rsplit("/models/", 1)[-1].removeprefix("models/").removeprefix("google/")
    return name.strip()


class PriceCatalog:
    """Model prices, looked up by exact id, else by the longest id the name extends.

    ``gemini-2.5-flash-001`` and ``gemini-2.5-flash-preview-09-2025`` are priced as
    ``gemini-2.5-flash``; ``gemini-2.5-flash-lite`` has its own entry, which wins.
    """

    def __init__(self, prices: Mapping[str, Price], *, source: str) -> None:
        self.prices = dict(prices)
        self.source = source
        self._found: dict[str, Price | None] = {}
        # Model as named -> (long-context threshold, its input, output, cached and audio rates,
        # the long-context ones, batch discount): worked out once, not on every audit event.
        self._priced: dict[
            str | None,
            tuple[int | None, tuple[float | None, ...], tuple[float | None, ...] | None, float],
        ] = {}
        # Longest first, so the most specific entry wins.
        self._ordered = sorted(self.prices, key=len, reverse=True)

    def price(self, model: str | None) -> Price | None:
        """The price of ``model``, or None when the catalog has none."""
        if not model:
            return None
        if model in self._found:
            return self._found[model]
        key = price_key(model)
        price = self.prices.get(key)
        if price is None:
            price = next(
                (self.prices[k] for k in self._ordered if key.startswith(k + "-")),
                None,
            )
        if len(self._found) < 4096:
            self._found[model] = price
        return price

    def cost(self, model: str | None, usage: Usage | None, *, batch: bool = False) -> Cost | None:
        """What ``usage`` of ``model`` costs, or None when it cannot be priced."""
        parts = self.cost_parts(model, usage, batch)
        return None if parts is None else Cost(*parts)

    def cost_parts(
        self, model: str | None, usage: Usage | None, batch: bool = False
    ) -> tuple[float, dict[str, int]] | None:
        """:meth:`cost`'s ``(usd, tokens)``, without the :class:`Cost` (the audit event's way)."""
        if usage is None:
            return None
        entry = self._priced.get(model) or self._entry(model)
        if entry is None:
            return None
        threshold, rates, long_rates, discount = entry
        prompt = usage.prompt_tokens or 0
        if long_rates is not None and threshold is not None and prompt > threshold:
            rates = long_rates
        rate_in, rate_out, rate_cached, rate_audio = rates
        cached = min(usage.cached_tokens or 0, prompt)
        audio = min(usage.audio_tokens or 0, prompt - cached)
        text = prompt - cached - audio
        tool = usage.tool_prompt_tokens or 0
        output = usage.output_tokens or 0
        thinking = usage.thoughts_tokens or 0
        if rate_in is None and (text or tool or audio):
            return None
        if rate_out is None and (output or thinking):
            return None
        usd = (
            (text + tool) * (rate_in or 0.0)
            + audio * (rate_audio or 0.0)
            + cached * (rate_cached or 0.0)
            + (output + thinking) * (rate_out or 0.0)
        ) / _MILLION
        if batch:
            usd *= discount
        # The kinds billed, in this order; a comprehension would build a function per event.
        tokens: dict[str, int] = {}
        if text:
            tokens["input"] = text
        if cached:
            tokens["cached_input"] = cached
        if audio:
            tokens["audio_input"] = audio
        if tool:
            tokens["tool_prompt"] = tool
        if output:
            tokens["output"] = output
        if thinking:
            tokens["thinking"] = thinking
        return round(usd, 9), tokens

    def _entry(
        self, model: str | None
    ) -> tuple[int | None, tuple[float | None, ...], tuple[float | None, ...] | None, float] | None:
        price = self.price(model)
        if price is None:
            return None
        threshold = price.long_context_threshold
        entry = (
            threshold,
            _rates(price, False),
            _rates(price, True) if threshold is not None else None,
            price.batch_discount,
        )
        if len(self._priced) < 4096:
            self._priced[model] = entry
        return entry

    def estimate(
        self, model: str | None, prompt: int, output: int, *, batch: bool = False
    ) -> float | None:
        """The most ``prompt`` input and ``output`` output tokens can cost (no cache discount)."""
        price = self.price(model)
        if price is None:
            return None
        long = price.long_context_threshold is not None and prompt > price.long_context_threshold
        rate_in = _rate(price.long_input if long else None, price.input)
        rate_out = _rate(price.long_output if long else None, price.output)
        if rate_in is None or (output and rate_out is None):
            return None
        usd = (prompt * rate_in + output * (rate_out or 0.0)) / _MILLION
        return usd * price.batch_discount if batch else usd

    def units(self, model: str | None, *, images: int = 0, seconds: float = 0.0) -> float | None:
        """The cost of ``images`` images or ``seconds`` of video of ``model``."""
        price = self.price(model)
        if price is None:
            return None
        if images:
            return None if price.per_image is None else images * price.per_image
        if seconds:
            return None if price.per_second is None else seconds * price.per_second
        return 0.0

    def storage(self, model: str | None, tokens: int, hours: float) -> float | None:
        """What keeping ``tokens`` in a context cache for ``hours`` costs."""
        price = self.price(model)
        if price is None or price.cache_storage_per_hour is None:
            return None
        return tokens * hours * price.cache_storage_per_hour / _MILLION


def _rate(*rates: float | None) -> float | None:
    return next((r for r in rates if r is not None), None)


def _rates(price: Price, long: bool) -> tuple[float | None, ...]:
    """Input, output, cached-input and audio-input rates, the long-context ones if ``long``."""
    rate_in = _rate(price.long_input if long else None, price.input)
    return (
        rate_in,
        _rate(price.long_output if long else None, price.output),
        _rate(price.long_cached_input if long else None, price.cached_input, rate_in),
        _rate(price.audio_input, rate_in),
    )


_lock = threading.Lock()
_cache: dict[str, tuple[float, PriceCatalog]] = {}


def load_catalog(path: Path | None = None) -> PriceCatalog:
    """The catalog in ``path`` (the platform's ``price_file``), else the package's.

    Cached per file and modification time: a platform that updates the file is read again.
    Raises ConfigError naming the key, the file and the fix.
    """
    if path is None:
        key, mtime = "<package>", 0.0
    else:
        key = str(path)
        try:
            mtime = path.stat().st_mtime
        except OSError as exc:
            raise ConfigError(
                [
                    ConfigProblem(
                        "price_file",
                        f"{path} cannot be read ({exc.strerror})",
                        "GOLDEN_PATH_PRICE_FILE",
                        "point price_file at a readable TOML price catalog, or unset it to use "
                        "the package's",
                    )
                ]
            ) from None
    with _lock:
        cached = _cache.get(key)
        if cached is not None and cached[0] == mtime:
            return cached[1]
    catalog = _read(path)
    with _lock:
        _cache[key] = (mtime, catalog)
    return catalog


def _read(path: Path | None) -> PriceCatalog:
    source = str(path) if path is not None else "golden_path/prices.toml"
    problems: list[ConfigProblem] = []

    def problem(field: str, message: str, fix: str) -> None:
        problems.append(ConfigProblem(field, message, source, fix))

    try:
        data = tomllib.loads(_read_bytes(path).decode("utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise ConfigError(
            [
                ConfigProblem(
                    "price_file",
                    f"the price catalog cannot be read: {detail}",
                    source,
                    "fix the file (UTF-8 TOML, see golden_path/prices.toml for the shape)",
                )
            ]
        ) from None
    for name in data:
        if name not in _TOP_KEYS:
            problem(name, "unknown key", _did_you_mean(name, _TOP_KEYS))
    default_discount = _number(data.get("batch_discount", 1.0), "batch_discount", problem) or 1.0
    models = data.get("models", {})
    prices: dict[str, Price] = {}
    if not isinstance(models, dict):
        problem("models", "must be a table of model ids", 'write [models."gemini-2.5-flash"]')
        models = {}
    for model, table in models.items():
        field = f"models.{model}"
        if not isinstance(table, dict):
            problem(field, "must be a table of prices", f'write [models."{model}"] input = 0.30')
            continue
        values = _prices(table, field, problem)
        values.setdefault("batch_discount", default_discount)
        if not any(values.get(k) is not None for k in ("input", "per_image", "per_second")):
            problem(
                field,
                "sets no price",
                "give at least input (per 1M tokens), per_image or per_second",
            )
        prices[price_key(model)] = Price(**values)
    if problems:
        raise ConfigError(problems)
    return PriceCatalog(prices, source=source)


def _read_bytes(path: Path | None) -> bytes:
    if path is None:
        return resources.files("golden_path").joinpath("prices.toml").read_bytes()
    # A FIFO or a device would hang or never end: regular files only, and bounded.
    if not path.is_file():
        raise OSError(0, "not a regular file")
    with path.open("rb") as handle:
        raw = handle.read(_MAX_FILE_BYTES + 1)
    if len(raw) > _MAX_FILE_BYTES:
        raise OSError(0, f"larger than {_MAX_FILE_BYTES // 1024 // 1024} MiB")
    return raw


def _prices(table: Mapping[str, Any], field: str, problem: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in table.items():
        if key not in _MODEL_KEYS:
            problem(f"{field}.{key}", "unknown key", _did_you_mean(key, _MODEL_KEYS))
            continue
        number = _number(value, f"{field}.{key}", problem)
        if number is None:
            continue
        if key == "long_context_threshold":
            values[key] = int(number)
        elif key == "batch_discount" and not 0 < number <= 1:
            problem(f"{field}.{key}", f"must be in (0, 1], got {number:g}", "0.5 is half price")
        else:
            values[key] = number
    return values


def _number(value: Any, field: str, problem: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problem(field, f"must be a number, got {type(value).__name__}", "write a plain number")
        return None
    if not math.isfinite(value) or value < 0:
        problem(field, f"must be a finite number of at least 0, got {value}", "use 0 for free")
        return None
    return float(value)


def _did_you_mean(key: str, known: tuple[str, ...]) -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return f"{hint}known keys: {', '.join(known)}"


def request_cost(
    catalog: PriceCatalog,
    *,
    model: str | None,
    api_method: str,
    usage: Usage | None,
    request_body: Any,
    response_body: Any,
    meter: str = "tokens",
) -> Cost | None:
    """What one finished request cost, by what its route bills (``meter``, the route table's).

    Tokens, images, video seconds or cache storage; None when it cannot be priced (unknown
    model, no usage).
    """
    parts = request_cost_parts(
        catalog,
        model,
        api_method,
        usage,
        request_body=request_body,
        response_body=response_body,
        meter=meter,
    )
    return None if parts is None else Cost(*parts)


def request_cost_parts(
    catalog: PriceCatalog,
    model: str | None,
    api_method: str,
    usage: Usage | None,
    *,
    request_body: Any,
    response_body: Any,
    meter: str,
) -> tuple[float, dict[str, int]] | None:
    """:func:`request_cost`'s ``(usd, units)``, without the :class:`Cost` (the audit event's)."""
    if meter in _UNIT_METERS:
        # Other meters bill tokens (billed_units says None for them, whatever the bodies).
        units = billed_units(meter, request_body, response_body)
        if units is not None:
            usd = catalog.units(
                model, images=units.get("images", 0), seconds=units.get("video_seconds", 0)
            )
            return None if usd is None else (round(usd, 9), units)
    if api_method.startswith("cachedContents.create") and isinstance(response_body, dict):
        cost = _storage(catalog, model, response_body)
        return None if cost is None else (cost.usd, cost.tokens)
    return catalog.cost_parts(model, usage, api_method.startswith("batch"))


_UNIT_METERS = ("images", "video_seconds")
# Imagen's default number of images per prompt (sampleCount), the most a request may cost.
_DEFAULT_SAMPLES = 4


def billed_units(meter: str, request_body: Any, response_body: Any) -> dict[str, int] | None:
    """The units an ``images`` or ``video_seconds`` route bills; None for other meters.

    Images are counted in the answer when there is one (Imagen ``predictions`` with bytes,
    OpenAI ``data``; images a safety filter withheld are not billed), else as the request asks
    (instances x ``sampleCount``, default 4; OpenAI ``n``, default 1): the most it can cost.
    Video: ``sampleCount`` x ``durationSeconds`` (default 8). A ``:predict`` call to an
    embedding model (the route Imagen shares) bills tokens: None.
    """
    if isinstance(response_body, dict) and "error" in response_body:
        # Refused or failed: nothing was made, nothing is billed.
        return {meter: 0} if meter in ("images", "video_seconds") else None
    if meter == "video_seconds":
        body = request_body if isinstance(request_body, dict) else {}
        return {"video_seconds": math.ceil(_video_seconds(body))}
    if meter != "images":
        return None
    if not _asks_images(request_body):
        return None
    counted = _images_in(response_body)
    return {"images": counted if counted is not None else _images_asked(request_body)}


def _asks_images(body: Any) -> bool:
    if not isinstance(body, dict):
        return True  # unknown: count it as images, never as free
    instances = body.get("instances")
    if isinstance(instances, list) and instances:
        # Embedding models take {"content": ...}; Imagen takes a prompt or an image.
        return not all(isinstance(i, dict) and "content" in i for i in instances)
    return True


def _images_in(body: Any) -> int | None:
    if not isinstance(body, dict):
        return None
    predictions = body.get("predictions")
    if isinstance(predictions, list):
        return sum(
            1 for p in predictions if isinstance(p, dict) and "bytesBase64Encoded" in p
        ) + sum(1 for p in predictions if isinstance(p, dict) and "gcsUri" in p)
    data = body.get("data")
    if isinstance(data, list):
        return len(data)
    return None


def _images_asked(body: Any) -> int:
    if not isinstance(body, dict):
        return _DEFAULT_SAMPLES
    if "prompt" in body and "instances" not in body:  # OpenAI images.generations / edits
        n = body.get("n", 1)
        return n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    instances = body.get("instances")
    count = len(instances) if isinstance(instances, list) and instances else 1
    parameters = body.get("parameters")
    samples = parameters.get("sampleCount") if isinstance(parameters, dict) else None
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
        samples = _DEFAULT_SAMPLES
    return count * samples


def _video_seconds(body: dict[str, Any]) -> float:
    parameters = body.get("parameters")
    parameters = parameters if isinstance(parameters, dict) else {}
    seconds = parameters.get("durationSeconds", 8)
    count = parameters.get("sampleCount", 1)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        seconds = 8
    if isinstance(count, bool) or not isinstance(count, int):
        count = 1
    return float(max(seconds, 0) * max(count, 1))


def _storage(catalog: PriceCatalog, model: str | None, body: dict[str, Any]) -> Cost | None:
    meta = body.get("usageMetadata")
    tokens = meta.get("totalTokenCount") if isinstance(meta, dict) else None
    try:
        created = dt.datetime.fromisoformat(str(body["createTime"]).replace("Z", "+00:00"))
        expires = dt.datetime.fromisoformat(str(body["expireTime"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return None
    if not isinstance(tokens, int) or isinstance(tokens, bool):
        return None
    hours = max((expires - created).total_seconds(), 0.0) / 3600
    usd = catalog.storage(model or body.get("model"), tokens, hours)
    if usd is None:
        return None
    return Cost(round(usd, 9), {"cache_token_hours": round(tokens * hours)})
