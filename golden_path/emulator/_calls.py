"""The deterministic tool rule: which declared functions a prompt calls, and with what.

docs/testing.md states the same rule for users; every surface that calls tools
(generateContent, Live, OpenAI chat completions) plans its calls here, so they agree.

1. A prompt that names declared functions (``get_weather``, as a word) calls each of them,
   in the order named, with arguments read from the whole prompt.
2. Otherwise the prompt is cut into sentences; each sentence calls the declared function that
   shares most words with it (the function's name split at ``_`` and case changes, plus its
   description; common English words do not count), with arguments read from that sentence.
   A sentence sharing no word calls nothing; equal calls are made once. These calls are
   parallel: one model turn carries them all, in prompt order.
3. When no sentence shares a word: mode ANY calls every declared function; any other mode
   calls the first declared one if the prompt gives it an argument (a number, a name, a
   quoted text, an enum value or a boolean its parameters take), else answers in text
   ("hello" is answered, "what is 1000/2?" calls ``divide(a=1000, b=2)``).

Arguments are read from the text in the order the schema lists its properties: an integer or
number takes the next number written (``1000/2`` -> 1000, then 2); a string takes the next
quoted text or run of capitalised words (``New York``; a sentence's first word does not count
unless it is all capitals, like ``GOOG``); a string enum takes the value the text names, else
its first; a boolean is whether the text says a word of its name (``is_winter`` <- "winter");
an array takes every remaining value of its items' kind; an object fills its properties the
same way. When the schema lists ``required``, a property outside it is left out if the text
has no value for it; any other the text cannot fill gets the smallest value its schema allows.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from golden_path.emulator import _answers

_STOP_TEXT = (
    "about after all also and any are but can could did does for from get give has have her his "
    "how into its let like may more most not now our out please show some tell than that the "
    "their them then there these they this those too use using via was way were what when where "
    "which who whom why will with would you your"
)
_STOP_WORDS = frozenset(_STOP_TEXT.split())
"""Words that say nothing about which function is meant (``get`` starts half of all names)."""

_NUMBER = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?!\w)")
_QUOTED = re.compile(r"\"([^\"]+)\"|\u201c([^\u201d]+)\u201d|(?<!\w)'([^']+)'(?!\w)")
_CAPITALISED = re.compile(r"\b[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*")
_SENTENCE_END = re.compile(r"(?<=[.?!;])\s+")


def mentions(text: str, name: str) -> bool:
    """Whether ``text`` names ``name`` as a word (``get_weather``, not ``get_weathers``)."""
    return _mention(text, name) is not None


def _mention(text: str, name: str) -> int | None:
    found = re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text)
    return found.start() if found else None


def _words(text: str) -> set[str]:
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", text)
    words = re.split(r"[^A-Za-z0-9]+", spaced.lower())
    return {w for w in words if len(w) > 2 and w not in _STOP_WORDS}


def sentences(text: str) -> list[str]:
    """``text`` cut after ``.``, ``?``, ``!`` or ``;`` followed by a space (``2.5`` stays whole)."""
    return [s for s in _SENTENCE_END.split(text.strip()) if s]


def _overlap(text: str, declaration: Mapping[str, Any]) -> int:
    described = f"{declaration['name']} {declaration.get('description') or ''}"
    return len(_words(text) & _words(described))


def parameters_schema(declaration: Mapping[str, Any]) -> Any:
    """A declaration's parameters: JSON Schema or Google's Schema, whichever it sends."""
    for key in ("parametersJsonSchema", "parameters_json_schema", "parameters"):
        if isinstance(declaration.get(key), dict):
            return declaration[key]
    return {}


def plan(
    prompt: str, declarations: list[dict[str, Any]], *, forced: bool = False
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The calls rules 1-3 make for ``prompt``: ``(declaration, arguments)`` in order."""
    if not declarations:
        return []
    named = [(at, d) for d in declarations if (at := _mention(prompt, d["name"])) is not None]
    if named:
        named.sort(key=lambda pair: pair[0])
        return [(d, arguments(parameters_schema(d), prompt)) for _, d in named]
    calls: list[tuple[dict[str, Any], dict[str, Any]]] = []
    for sentence in sentences(prompt):
        best = max(declarations, key=lambda d: _overlap(sentence, d))  # first of equals
        if _overlap(sentence, best) == 0:
            continue
        call = (best, arguments(parameters_schema(best), sentence))
        if not any(d is best and a == call[1] for d, a in calls):
            calls.append(call)
    if calls:
        return calls
    if forced:
        return [(d, arguments(parameters_schema(d), prompt)) for d in declarations]
    first = declarations[0]
    args, supplied = _read(parameters_schema(first), prompt)
    # "hello" gives the function nothing to work on: a model answers it in text.
    return [(first, args)] if supplied else []


# -- arguments from text ------------------------------------------------------------------------


@dataclass
class _Values:
    """What a text offers, in order: numbers and strings, each consumed once."""

    text: str
    numbers: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)

    @classmethod
    def read(cls, text: str) -> _Values:
        found: list[tuple[int, str]] = []
        quoted_spans = []
        for match in _QUOTED.finditer(text):
            found.append((match.start(), next(g for g in match.groups() if g)))
            quoted_spans.append(match.span())
        starts = {0} | {m.end() for m in _SENTENCE_END.finditer(text)}
        for match in _CAPITALISED.finditer(text):
            if any(a <= match.start() < b for a, b in quoted_spans):
                continue
            words = match.group().split()
            first_is_plain = match.start() in starts and not (
                len(words[0]) > 1 and words[0].isupper()
            )
            if first_is_plain:
                words = words[1:]
            words = [w for w in words if w != "I"]
            if words:
                found.append((match.start(), " ".join(words)))
        numbers = _NUMBER.findall(text)
        return cls(text, numbers, [s for _, s in sorted(found)])


def arguments(schema: Any, text: str) -> dict[str, Any]:
    """The arguments the rule reads from ``text`` for a parameters ``schema``."""
    return _read(schema, text)[0]


def _read(schema: Any, text: str) -> tuple[dict[str, Any], bool]:
    """The arguments, and whether ``text`` supplied any of them."""
    schema = _answers.schema_keys(schema)
    value, supplied = _fill(schema, _Values.read(text), schema, "", 0)
    return (value if isinstance(value, dict) else {}), supplied


def _fill(  # noqa: PLR0911 -- one return per JSON type reads best
    schema: Any, values: _Values, root: Any, key: str, depth: int
) -> tuple[Any, bool]:
    """``(value, whether the text supplied it)`` for one schema node."""
    if not isinstance(schema, dict) or depth > 12:
        return None, False
    if "$ref" in schema:
        return _fill(_answers.resolve_ref(root, schema["$ref"]), values, root, key, depth + 1)
    for branch_key in ("anyOf", "any_of", "oneOf", "one_of"):
        branches = [b for b in _answers.as_list(schema.get(branch_key)) if isinstance(b, dict)]
        usable = [b for b in branches if _answers.type_of(b) != "null"]
        if usable:
            return _fill(usable[0], values, root, key, depth + 1)
    kind = _answers.type_of(schema)
    if "const" in schema:
        return schema["const"], False
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return _enum_value(schema["enum"], values.text)
    if kind == "object" or (kind is None and isinstance(schema.get("properties"), dict)):
        return _fill_object(schema, values, root, depth)
    if kind == "array":
        return _fill_array(schema, values, root, key, depth)
    if kind in ("integer", "number") and values.numbers:
        number = float(values.numbers.pop(0))
        return (int(number) if kind == "integer" else number), True
    if kind == "boolean":
        return _mentioned(key, values.text), _mentioned(key, values.text)
    if kind == "string" and not schema.get("format") and values.strings:
        return values.strings.pop(0), True
    return _answers.value_for_schema(schema, root, depth), False


def _fill_object(
    schema: dict[str, Any], values: _Values, root: Any, depth: int
) -> tuple[dict[str, Any], bool]:
    properties = _answers.as_dict(schema.get("properties"))
    required = schema.get("required")
    filled: dict[str, Any] = {}
    supplied = False
    for name, sub in properties.items():
        value, given = _fill(sub, values, root, name, depth + 1)
        supplied = supplied or given
        if given or not isinstance(required, list) or name in required:
            filled[name] = value
    return filled, supplied


def _fill_array(
    schema: dict[str, Any], values: _Values, root: Any, key: str, depth: int
) -> tuple[list[Any], bool]:
    """Items while the text has values for them, at least ``minItems`` (1), ``maxItems`` at most."""
    prefix = [p for p in _answers.as_list(schema.get("prefixItems")) if isinstance(p, dict)]
    if prefix:  # a tuple: one value per position
        pairs = [_fill(p, values, root, key, depth + 1) for p in prefix]
        return [v for v, _ in pairs], any(given for _, given in pairs)
    items = schema.get("items") if isinstance(schema.get("items"), dict) else {}
    low = max(int(schema.get("minItems", 1) or 0), 1)
    high = int(schema["maxItems"]) if "maxItems" in schema else None
    out: list[Any] = []
    supplied = False
    while high is None or len(out) < high:
        left = len(values.numbers) + len(values.strings)
        value, given = _fill(items, values, root, key, depth + 1)
        consumed = len(values.numbers) + len(values.strings) < left
        if not (given and consumed) and len(out) >= low:
            break
        supplied = supplied or consumed
        out.append(value)
    return out, supplied


def _enum_value(options: list[Any], text: str) -> tuple[Any, bool]:
    for option in options:
        if isinstance(option, str) and re.search(
            rf"(?<!\w){re.escape(option)}(?!\w)", text, re.IGNORECASE
        ):
            return option, True
    return options[0], False


def _mentioned(key: str, text: str) -> bool:
    return bool(_words(key.replace("_", " ")) & _words(text))


# -- the answer after function responses ------------------------------------------------------


def describe_results(contents: Any) -> str | None:
    """The answer to a last turn of function responses, or None when it has none.

    ``The function NAME(ARG=VALUE, ...) returned RESPONSE.`` for each response, arguments from
    the model's call it answers (matched by id, else by name, in order), values as JSON.
    """
    turns = _answers.as_list(contents)
    if not turns:
        return None
    responses = [
        part["functionResponse"]
        for part in _answers.as_list(_answers.as_dict(turns[-1]).get("parts"))
        if isinstance(part, dict) and isinstance(part.get("functionResponse"), dict)
    ]
    if not responses:
        return None
    # The calls answered: those of the model turn just before (parallel calls pair up in
    # order), then any earlier one with the same id or name (a history built by hand).
    previous = _answers.as_dict(turns[-2]) if len(turns) > 1 else {}
    recent, earlier = _calls_in([previous]), _calls_in(turns[:-2])
    return " ".join(
        describe_result(str(r.get("name", "")), r.get("response"), _args_of(r, recent, earlier))
        for r in responses
    )


def _calls_in(turns: list[Any]) -> list[dict[str, Any]]:
    return [
        part["functionCall"]
        for turn in turns
        for part in _answers.as_list(_answers.as_dict(turn).get("parts"))
        if isinstance(part, dict) and isinstance(part.get("functionCall"), dict)
    ]


def _args_of(
    response: Mapping[str, Any], recent: list[dict[str, Any]], earlier: list[dict[str, Any]]
) -> Any:
    """The arguments of the call ``response`` answers: by id, else by name; None without one.

    A call of ``recent`` (the turn answered) is used once, so two calls of one function pair
    with their two responses in order; of ``earlier`` turns the latest counts.
    """
    wanted = response.get("id")

    def answers(call: Mapping[str, Any]) -> bool:
        if wanted:
            return bool(call.get("id") == wanted)
        return bool(call.get("name") == response.get("name"))

    for index, call in enumerate(recent):
        if answers(call):
            return recent.pop(index).get("args")
    for call in reversed(earlier):
        if answers(call):
            return call.get("args")
    if wanted:  # an id no call carries: pair by name, as a client that drops ids would
        return _args_of({"name": response.get("name")}, recent, earlier)
    return None


def describe_result(name: str, response: Any, args: Any = None) -> str:
    """``The function NAME(ARG=VALUE, ...) returned RESPONSE.`` (no brackets without args).

    A response that is only ``{"result": VALUE}`` (how the SDK wraps what a Python function
    returns) is shown as VALUE, as a model would say the number rather than the wrapper, and
    floats to 15 significant digits, not the binary rounding error a sum can carry.
    """
    called = name
    if isinstance(args, dict) and args:
        shown = ", ".join(f"{k}={json.dumps(v)}" for k, v in args.items())
        called = f"{name}({shown})"
    if isinstance(response, dict) and list(response) == ["result"]:
        response = response["result"]
    return f"The function {called} returned {json.dumps(_rounded(response), sort_keys=True)}."


def _rounded(value: Any) -> Any:
    """Floats to the 15 digits a double holds exactly (1234567.89 + 9876543.21 -> 11111111.1)."""
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.15g}")
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value
