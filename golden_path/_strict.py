"""Strict mode: in this process, a Gemini client golden-path did not build is refused.

Opt in with ``GOLDEN_PATH_STRICT=1`` (or ``strict = true`` in the platform's config file); the
base image turns it on for every Python process (``golden_path_strict.pth``, see
docs/frameworks.md). Then, unless golden-path itself builds them:

- a ``google.genai.Client`` (or the SDK's ``BaseApiClient`` under it) aimed anywhere but
  loopback (the SDK speaks only the Gemini protocol: any other host is Google or a relay to it);
- an ``openai.OpenAI`` / ``AsyncOpenAI`` whose base URL is a Gemini endpoint, unless its
  ``http_client`` is one golden-path built (``with_options`` copies of governed clients);
- an ``httpx`` / ``httpx2`` ``Client`` / ``AsyncClient`` whose ``base_url`` is a Gemini endpoint;
- and any request such an ungoverned httpx client sends to a Gemini endpoint (a per-request
  ``base_url``, ``client.base_url = ...`` after construction, ``httpx.post(url)``)

raise :class:`~golden_path.exceptions.UngovernedClient` naming the user code that built it (and
the library line in between, such as LangChain's validator). Gemini endpoints are the hosts of
``googleapis.com`` serving ``generativelanguage`` or ``aiplatform`` (regional, ``rep``, ``mtls``
and Private Service Connect names included). A company relay is not judged by its name: the
golden-path gateway governs what reaches it, and network egress rules govern the rest.

Mechanism, and why: the constructors (and httpx's ``send``) of those classes are wrapped in
place, when strict mode starts for modules already imported and through a ``sys.meta_path``
finder (PEP 451: the import system's documented extension point) for modules imported later.
Wrapping the class itself, not the name ``google.genai.Client``, catches every way of reaching
it: ``from google.genai.client import Client``, subclasses, a framework's validator, copies.
Nothing else of the libraries changes, and :func:`uninstall` restores them exactly.

Strict mode is a guard rail against accidents, not a sandbox: code can still open sockets
itself. Egress rules on the network are what stop a determined bypass.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import importlib.abc
import ipaddress
import os
import site
import sys
import sysconfig
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from types import FrameType, ModuleType
from typing import Any
from urllib.parse import urlsplit

from golden_path.exceptions import UngovernedClient

__all__ = [
    "ENV_VAR",
    "building",
    "from_environment",
    "install",
    "installed",
    "is_gemini_host",
    "uninstall",
]

ENV_VAR = "GOLDEN_PATH_STRICT"
_FALSE = {"", "0", "false", "no", "off"}
# Words in a googleapis.com host name that serve Gemini: AI Studio and every Vertex spelling.
_GEMINI_WORDS = ("generativelanguage", "aiplatform")

# Inside golden-path's own builders: everything built is governed (and its httpx clients
# recorded, so their requests pass). Inside a hooked constructor: the outermost one judges.
_BUILDING: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "gp_strict_building", default=False
)
_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("gp_strict_nested", default=False)
_OURS: weakref.WeakSet[Any] = weakref.WeakSet()
_LOCK = threading.Lock()
_ORIGINALS: dict[tuple[type, str], Any] = {}


class _State:
    installed = False


@contextlib.contextmanager
def building() -> Iterator[None]:
    """Mark what is constructed inside as golden-path's own (its factories use this)."""
    token = _BUILDING.set(True)
    try:
        yield
    finally:
        _BUILDING.reset(token)


def is_gemini_host(host: str) -> bool:
    """Whether requests to ``host`` reach Gemini directly (Google's own endpoints)."""
    host = host.lower().rstrip(".")
    if host != "googleapis.com" and not host.endswith(".googleapis.com"):
        return False
    return any(word in host for word in _GEMINI_WORDS)


def installed() -> bool:
    """Whether strict mode is on in this process."""
    return _State.installed


def from_environment(environ: dict[str, str] | None = None) -> bool:
    """Turn strict mode on when ``GOLDEN_PATH_STRICT`` says so; returns whether it is on.

    A value that is neither true nor false turns it on (fail closed); loading the settings then
    reports the value with the fix.
    """
    value = (os.environ if environ is None else environ).get(ENV_VAR, "").strip().lower()
    if value not in _FALSE:
        install()
    return _State.installed


def install() -> None:
    """Turn strict mode on (idempotent): wrap what is imported, watch what will be."""
    with _LOCK:
        if _State.installed:
            return
        _State.installed = True
        sys.meta_path.insert(0, _FINDER)
        for name in _TARGETS:
            module = sys.modules.get(name)
            if module is not None:
                _patch(name, module)


def uninstall() -> None:
    """Turn strict mode off and restore the libraries' classes (tests)."""
    with _LOCK:
        _State.installed = False
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(_FINDER)
        for (cls, attr), original in _ORIGINALS.items():
            setattr(cls, attr, original)
        _ORIGINALS.clear()


# --- judging ------------------------------------------------------------------------------------


def _host(url: object) -> str:
    text = str(url)
    if "://" not in text:
        return ""
    try:
        return (urlsplit(text).hostname or "").lower().rstrip(".")
    except ValueError:
        return ""


def _is_loopback(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _genai_target(client: Any) -> str | None:
    api_client = getattr(client, "_api_client", client)
    options = getattr(api_client, "_http_options", None)
    base_url = getattr(options, "base_url", None)
    return str(base_url) if base_url else None


def _judge_genai(kind: str, client: Any, kwargs: dict[str, Any]) -> None:
    target = _genai_target(client)
    # Unreadable (an SDK release that moved it): golden-path cannot tell, so it refuses.
    if target is None or not _is_loopback(_host(target)):
        _refuse(kind, target or "an endpoint golden-path cannot read")


def _judge_openai(kind: str, client: Any, kwargs: dict[str, Any]) -> None:
    if kwargs.get("http_client") in _OURS:
        return  # a copy of a governed client (with_options): its transport is golden-path's
    target = str(getattr(client, "base_url", ""))
    if is_gemini_host(_host(target)):
        _refuse(kind, target)


def _judge_httpx(kind: str, client: Any, kwargs: dict[str, Any]) -> None:
    target = str(getattr(client, "base_url", ""))
    if is_gemini_host(_host(target)):
        _refuse(kind, target)


def _judge_request(kind: str, client: Any, request: Any) -> None:
    if client in _OURS:
        return
    url = getattr(request, "url", None)
    if url is not None and is_gemini_host(_host(url)):
        _refuse(f"{kind} request", str(url))


def _wrap_init(original: Any, kind: str, judge: Callable[..., None], ours: bool) -> Any:
    @functools.wraps(original)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if _BUILDING.get():
            original(self, *args, **kwargs)
            if ours:
                _OURS.add(self)
            return
        if _NESTED.get():  # built by an outer hooked constructor, which judges
            original(self, *args, **kwargs)
            return
        token = _NESTED.set(True)
        try:
            original(self, *args, **kwargs)
        finally:
            _NESTED.reset(token)
        judge(kind, self, kwargs)

    return __init__


def _wrap_send(original: Any, kind: str) -> Any:
    @functools.wraps(original)
    def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        _judge_request(kind, self, request)
        return original(self, request, *args, **kwargs)

    return send


def _wrap_async_send(original: Any, kind: str) -> Any:
    @functools.wraps(original)
    async def send(self: Any, request: Any, *args: Any, **kwargs: Any) -> Any:
        _judge_request(kind, self, request)
        return await original(self, request, *args, **kwargs)

    return send


def _http_targets(package: str) -> tuple[tuple[str, str, Callable[..., Any]], ...]:
    def init(cls: str) -> Callable[[Any], Any]:
        return lambda f: _wrap_init(f, f"{package}.{cls}", _judge_httpx, ours=True)

    return (
        ("Client", "__init__", init("Client")),
        ("AsyncClient", "__init__", init("AsyncClient")),
        ("Client", "send", lambda f: _wrap_send(f, f"{package}.Client")),
        ("AsyncClient", "send", lambda f: _wrap_async_send(f, f"{package}.AsyncClient")),
    )


def _init(kind: str, judge: Callable[..., None]) -> Callable[[Any], Any]:
    return lambda f: _wrap_init(f, kind, judge, ours=False)


# Module -> (class, attribute, wrapper factory): the one table of what strict mode guards.
_TARGETS: dict[str, Sequence[tuple[str, str, Callable[[Any], Any]]]] = {
    "google.genai.client": (("Client", "__init__", _init("google.genai.Client", _judge_genai)),),
    "google.genai._api_client": (
        ("BaseApiClient", "__init__", _init("google.genai BaseApiClient", _judge_genai)),
    ),
    "openai._client": (
        ("OpenAI", "__init__", _init("openai.OpenAI", _judge_openai)),
        ("AsyncOpenAI", "__init__", _init("openai.AsyncOpenAI", _judge_openai)),
    ),
    "httpx2._client": _http_targets("httpx2"),
    "httpx._client": _http_targets("httpx"),
}


def _patch(name: str, module: ModuleType) -> None:
    for cls_name, attr, wrap in _TARGETS[name]:
        cls = getattr(module, cls_name, None)
        if cls is None or (cls, attr) in _ORIGINALS:
            continue
        original = cls.__dict__[attr]
        _ORIGINALS[(cls, attr)] = original
        setattr(cls, attr, wrap(original))


class _Loader(importlib.abc.Loader):
    """Runs the real loader, then wraps the module's classes."""

    def __init__(self, loader: Any, name: str) -> None:
        self._loader = loader
        self._name = name

    def create_module(self, spec: Any) -> ModuleType | None:
        created: ModuleType | None = self._loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        self._loader.exec_module(module)
        if _State.installed:
            with _LOCK:
                _patch(self._name, module)

    def __getattr__(self, attr: str) -> Any:  # resource readers, get_source, ...
        return getattr(self._loader, attr)


class _Finder(importlib.abc.MetaPathFinder):
    """Hands the guarded modules to :class:`_Loader`; every other import is untouched."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> Any:
        if fullname not in _TARGETS:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loader(spec.loader, fullname)
                return spec
        return None


_FINDER = _Finder()


# --- naming the caller ----------------------------------------------------------------------------


@functools.cache
def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths[key] for key in ("stdlib", "platstdlib", "purelib", "platlib") if key in paths}
    dirs.update(site.getsitepackages())
    dirs.add(os.path.dirname(os.path.abspath(__file__)))  # golden_path itself
    return tuple(os.path.join(os.path.realpath(d), "") for d in dirs)


def _is_library(filename: str) -> bool:
    if filename.startswith("<"):
        return filename not in ("<string>", "<stdin>")
    return os.path.realpath(filename).startswith(_library_dirs())


def _where(frame: FrameType) -> str:
    filename = frame.f_code.co_filename
    shown = filename
    with contextlib.suppress(ValueError):
        relative = os.path.relpath(filename)
        if not relative.startswith(".."):
            shown = relative
    if "site-packages" + os.sep in shown:
        shown = shown.rsplit("site-packages" + os.sep, 1)[1]
    return f"{shown}:{frame.f_lineno}"


def _guarded_dirs() -> tuple[str, ...]:
    dirs = [os.path.join(os.path.dirname(os.path.abspath(__file__)), "")]
    for name in ("google.genai", "openai", "httpx2", "httpx"):
        file = getattr(sys.modules.get(name), "__file__", None)
        if file:
            dirs.append(os.path.join(os.path.dirname(os.path.abspath(file)), ""))
    return tuple(dirs)


def _callers() -> tuple[str, str]:
    """(the user code that built it, the first line outside the guarded libraries)."""
    guarded = _guarded_dirs()
    frame: FrameType | None = sys._getframe(1)
    via = caller = ""
    while frame is not None:
        filename = frame.f_code.co_filename
        if not via and not filename.startswith(("<frozen", *guarded)):
            via = _where(frame)
        if not _is_library(filename):
            caller = _where(frame)
            break
        frame = frame.f_back
    return caller or via, via


def _refuse(kind: str, target: str) -> None:
    caller, via = _callers()
    raise UngovernedClient(kind=kind, target=target, caller=caller, via=via)
