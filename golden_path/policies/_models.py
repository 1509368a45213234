"""``[models]``: aliases, then the allowlist, applied wherever a request names a model."""

from __future__ import annotations

import fnmatch
import re

from golden_path._model import INTERACTION, GenAIRequest
from golden_path.policies._body import ModelRef, canonical_model, interaction_events, model_refs
from golden_path.policies._config import Section
from golden_path.policies._types import Deny

__all__ = ["ModelsPolicy"]

_GLOB = re.compile(r"^[a-z0-9.*?_\-\[\]!/@]+$")


class ModelsPolicy:
    """Resolve ``[models.aliases]``, then refuse any model outside ``allow`` (or inside ``deny``).

    Names are compared after :func:`canonical_model`: URL-decoded, without ``models/``,
    ``publishers/google/models/`` or ``projects/.../models/`` prefixes, lower case, no blanks.
    Every place a request names a model is checked (URL path, body ``model``/``baseModel``,
    batch and batch-embed entries, Live setup); one disallowed name denies the request.
    """

    name = "models"
    # A Live client message may name a model (a second setup): each one is checked.
    inspects_live_messages = True
    judges_batch_files = True  # each line of an uploaded batch file, too

    def __init__(
        self,
        *,
        allow: list[str] | None,
        deny: list[str] | None = None,
        aliases: dict[str, str] | None = None,
        mode: str = "enforce",
        agents: list[str] | None = None,
    ) -> None:
        self.mode = mode
        # Interactions API agents the platform allows (globs); none unless listed.
        self.agents = list(agents or [])
        self._agents = _compile(self.agents) if self.agents else None
        self.allow = list(allow) if allow is not None else None
        self.deny = list(deny or [])
        self.aliases = {canonical_model(k): canonical_model(v) for k, v in (aliases or {}).items()}
        self._allow = _compile(self.allow) if self.allow is not None else None
        self._deny = _compile(self.deny) if self.deny else None
        # Verdicts by canonical name: the same few models on every request (bounded).
        self._verdicts: dict[str, bool] = {}
        # (canonical name, alias target, verdict) by the name as a request wrote it (bounded).
        self._judged: dict[str, tuple[str, str, bool]] = {}

    @classmethod
    def configure(cls, section: Section) -> ModelsPolicy | None:
        """Build from ``[models]``; problems go to the section."""
        mode = section.mode()
        allow = section.strings(
            "allow",
            None,
            empty_fix='list the models to allow; to refuse every model say so: deny = ["*"]',
        )
        deny = section.strings("deny", None)
        agents = section.strings("agents", None)
        aliases = section.table_of_strings("aliases")
        section.finish()
        bad_glob = False
        for key, globs in (("allow", allow), ("deny", deny), ("agents", agents)):
            for glob in globs or ():
                error = glob_error(glob)
                if error:
                    bad_glob = True
                    section.problem(
                        key,
                        f"invalid glob {glob!r}: {error}",
                        'use a bare model id with * and ?, e.g. "gemini-2.5-*"',
                    )
        if bad_glob:
            return None
        policy = cls(allow=allow, deny=deny, aliases=aliases, mode=mode, agents=agents)
        for alias in policy.aliases:
            try:
                target = policy.resolve(alias)
            except ValueError as exc:
                section.problem(f"aliases.{alias}", str(exc), "make every alias end at a model id")
                continue
            if not policy.allowed(target):
                section.problem(
                    f"aliases.{alias}",
                    f"points at {target!r}, which [models] does not allow",
                    "point it at an allowed model or allow that model",
                )
        return policy if section.ok else None

    def resolve(self, name: str) -> str:
        """Follow aliases to a model id; ValueError on a loop."""
        seen = [name]
        while name in self.aliases:
            name = self.aliases[name]
            if name in seen:
                raise ValueError("alias loop: " + " -> ".join([*seen, name]))
            seen.append(name)
        return name

    def allowed(self, name: str) -> bool:
        """Whether the canonical ``name`` passes ``allow`` and ``deny``."""
        verdict = self._verdicts.get(name)
        if verdict is None:
            verdict = not (self._deny is not None and self._deny.match(name)) and (
                self._allow is None or bool(self._allow.match(name))
            )
            if len(self._verdicts) < 4096:
                self._verdicts[name] = verdict
        return verdict

    def on_request(self, request: GenAIRequest) -> None:
        """Rewrite aliases, then deny a request naming any model that is not allowed."""
        self._check_agent(request)
        refs = model_refs(request)
        if not refs:
            return
        enforce = self.mode == "enforce"
        for ref in refs:
            judged = self._judged.get(ref.raw)
            if judged is None:
                judged = self._judge(ref.raw)
            name, target, allowed = judged
            if target != name:
                request.record(self.name, "alias", f"{name} -> {target}", enforced=enforce)
                if enforce:
                    _rewrite(request, ref, target)
            if not allowed:
                # Report mode judges what enforcing would have sent: the alias's target.
                raise Deny(self._refusal(target, ref))

    def _judge(self, raw: str) -> tuple[str, str, bool]:
        """What a name as written comes to: its canonical form, alias target, and verdict."""
        name = canonical_model(raw)
        target = self.resolve(name) if self.aliases else name
        judged = (name, target, self.allowed(target))
        if len(self._judged) < 4096:
            self._judged[raw] = judged
        return judged

    def _refusal(self, name: str, ref: ModelRef) -> str:
        shown = ", ".join(self.allow or []) or "none"
        return f"model {name!r} ({ref.where}) is not allowed; allowed: {shown}"

    def _check_agent(self, request: GenAIRequest) -> None:
        """An Interactions ``agent`` must be one the platform listed in ``agents``."""
        route = request.route
        if route is None or not ("agent" in route.models or "interaction" in route.models):
            return
        for agent, where in _agents(request):
            name = canonical_model(agent) if isinstance(agent, str) else ""
            if self._agents is not None and name and self._agents.match(name):
                continue
            self._deny_agent(request, agent, where)

    def _deny_agent(self, request: GenAIRequest, agent: object, where: str) -> None:
        shown = ", ".join(self.agents) or "none"
        reason = (
            f"agent {agent!r} ({where}) is not allowed; allowed agents: {shown} "
            "(the platform lists them in [models] agents)"
        )
        if self.mode == "report":
            request.record(self.name, "deny", reason, enforced=False)
            return
        raise Deny(reason)


def _agents(request: GenAIRequest) -> list[tuple[object, str]]:
    """Every agent a request names: the body's, a Live Interactions batch's, the interaction's."""
    found: list[tuple[object, str]] = []
    body = request.body
    if request.api_method == "live.message":
        found.extend(
            (event["agent"], "event field 'agent'")
            for event in interaction_events(body)
            if event.get("agent") is not None
        )
    elif isinstance(body, dict) and body.get("agent") is not None:
        found.append((body["agent"], "body field 'agent'"))
    subject = request.state.get(INTERACTION)
    if isinstance(subject, dict) and subject.get("agent") is not None:
        found.append((subject["agent"], "the interaction's agent"))
    return found


def glob_error(glob: str) -> str | None:
    """Why ``glob`` is not a usable model glob (None when it is)."""
    if glob != glob.strip() or not glob:
        return "blank or surrounded by spaces"
    if glob != glob.lower():
        return "model ids are compared in lower case; write the glob in lower case"
    if not _GLOB.match(glob):
        return "only letters, digits, '.', '-', '_', '/', '@' and the wildcards * ? [] are allowed"
    if glob.count("[") != glob.count("]"):
        return "unbalanced [ ]"
    if glob.startswith("models/"):
        return "globs match the bare model id; drop the models/ prefix"
    return None


def _compile(globs: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(fnmatch.translate(g) for g in globs))


def _rewrite(request: GenAIRequest, ref: ModelRef, target: str) -> None:
    if ref.container is None:
        _rewrite_url(request, target)
        return
    old: str = ref.container[ref.key]
    # Keep the resource prefix the caller used (models/fast -> models/gemini-2.5-flash).
    bare = old.strip()
    index = bare.lower().rfind("models/")
    ref.container[ref.key] = bare[: index + len("models/")] + target if index >= 0 else target
    request.mark_modified()
    if request.surface == "openai" or request.api_method == "live.connect":
        request.model = target


def _rewrite_url(request: GenAIRequest, target: str) -> None:
    import httpx2

    path = request.url.raw_path.decode("ascii")
    head, sep, tail = path.partition("?")
    index = head.lower().rfind("/models/")
    if index < 0:
        return
    end = head.find(":", index)
    end = len(head) if end < 0 else end
    head = head[: index + len("/models/")] + target + head[end:]
    request.url = httpx2.URL(request.url, raw_path=(head + sep + tail).encode("ascii"))
    request.model = target
