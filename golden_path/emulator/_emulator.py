"""``Emulator``: a real Gemini API server on loopback, for tests, demos and offline work."""

from __future__ import annotations

import errno
import json
import os
import secrets
import threading
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

from golden_path.emulator._dispatch import State
from golden_path.emulator._faults import Fault
from golden_path.emulator._records import MODEL_API_KINDS, IssuedToken, RecordedRequest
from golden_path.emulator._resources import Timings
from golden_path.exceptions import EmulatorError

if TYPE_CHECKING:
    from golden_path.emulator._server import Server

_JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"  # noqa: S105 -- a type URN


class Emulator:
    """An embedded Gemini API (Developer API, Vertex AI, OAuth2, STS, IAM) on a loopback port.

    ``api_keys=None`` accepts any non-empty API key; otherwise only the listed ones (and those
    added with :meth:`add_api_key`). Access tokens live ``token_lifetime_s`` seconds; google-auth
    refreshes 225 s early, so a lifetime of 225 or less makes it fetch a token per request.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        api_keys: Iterable[str] | None = None,
        token_lifetime_s: int = 3600,
    ) -> None:
        self.host = host
        self.port = port
        self._state = State(api_keys, token_lifetime_s)
        self._server: Server | None = None
        self._thread: threading.Thread | None = None
        self.ca_pem = ""
        """The PEM of the CA that signed the emulator's TLS certificate (set by ``start``).

        The same port serves TLS (the Live API's ``wss://``, or ``https://``). golden-path
        clients in this process trust it automatically; other clients can load it, e.g.
        ``ssl.create_default_context(cadata=emu.ca_pem)``.
        """

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind and serve in a background thread; raise EmulatorError when the port is taken."""
        if self._server is not None:
            return self
        from golden_path._tls import trust_emulator_ca
        from golden_path.emulator._certs import make_certificates
        from golden_path.emulator._server import Server  # http.server costs ~60 ms

        certificates = make_certificates(self.host)
        try:
            server = Server((self.host, self.port), self._state, certificates.server_context)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise EmulatorError(
                    f"port {self.port} on {self.host} is in use; pick another with --port"
                ) from exc
            raise EmulatorError(f"cannot listen on {self.host}:{self.port}: {exc}") from exc
        self._server = server
        self.ca_pem = certificates.ca_pem
        # golden-path clients in this process reach the Live API (always wss://) here.
        trust_emulator_ca(certificates.ca_pem)
        self.port = server.server_address[1]
        self._state.authority.token_urls = (
            "https://oauth2.googleapis.com/token",
            self.token_url,
        )
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"golden-path-emulator:{self.port}", daemon=True,
        )  # fmt: skip
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection; safe to call twice."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:54321`` (no trailing slash)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def token_url(self) -> str:
        """The OAuth2 token endpoint (jwt-bearer, refresh_token and token-exchange grants)."""
        return f"{self.url}/token"

    @property
    def sts_url(self) -> str:
        """The STS token-exchange endpoint, as ``external_account`` files name it."""
        return f"{self.url}/v1/token"

    @property
    def iam_endpoint(self) -> str:
        """IAM ``generateAccessToken`` with a ``{}`` placeholder for the target's email.

        google-auth uses ``iam_endpoint_override`` verbatim, so pass
        ``emu.iam_endpoint.format(email)`` (or :meth:`iam_endpoint_for`).
        """
        return f"{self.url}/v1/projects/-/serviceAccounts/{{}}:generateAccessToken"

    def iam_endpoint_for(self, email: str) -> str:
        """Return the exact ``iam_endpoint_override`` for impersonating ``email``."""
        return self.iam_endpoint.format(email)

    # -- recorded requests and tokens ------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far (token and IAM ones included), oldest first."""
        return self._state.records()

    def api_requests(self) -> list[RecordedRequest]:
        """Only the model API requests (Gemini, Vertex, OpenAI-compatible)."""
        return [r for r in self._state.records() if r.kind in MODEL_API_KINDS]

    def clear_requests(self) -> None:
        """Forget the recorded requests."""
        self._state.clear_records()

    def reset(self) -> None:
        """Forget requests, scripts, faults and latency; keys, accounts and tokens stay valid."""
        self._state.clear_records()
        self._state.faults.clear()
        self._state.go_away.clear()

    @property
    def issued_tokens(self) -> list[IssuedToken]:
        """Every access token issued, oldest first, with its subject and grant."""
        return self._state.authority.issued

    @property
    def token_lifetime_s(self) -> int:
        """How long issued access tokens live."""
        return self._state.authority.token_lifetime_s

    # -- credentials -----------------------------------------------------------------------------

    def add_api_key(self, key: str) -> None:
        """Accept ``key`` as an API key too."""
        self._state.add_api_key(key)

    def create_service_account_key(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        email: str = "app@emu-project.iam.gserviceaccount.com",
        project_id: str = "emu-project",
    ) -> dict[str, Any]:
        """Create a real service-account key (fresh RSA key) whose ``token_uri`` is this emulator.

        The public key is registered, so google-auth's jwt-bearer grant verifies. The JSON is
        written to ``path`` when given.
        """
        key_id, pem = self._state.authority.new_service_account_key(email)
        info = {
            "type": "service_account",
            "project_id": project_id,
            "private_key_id": key_id,
            "private_key": pem,
            "client_email": email,
            "client_id": str(secrets.randbelow(10**20)),
            "auth_uri": "https://accounts.google.com/o/oauth2/auth",
            "token_uri": self.token_url,
            "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
            "client_x509_cert_url": f"https://www.googleapis.com/robot/v1/metadata/x509/{email}",
            "universe_domain": "googleapis.com",
        }
        _write_json(path, info)
        return info

    def create_authorized_user_file(
        self,
        path: str | os.PathLike[str] | None = None,
        *,
        email: str = "user@example.com",
        quota_project_id: str | None = None,
    ) -> dict[str, Any]:
        """Create ADC user credentials (``gcloud auth application-default login``) for ``email``.

        google-auth ignores a file's ``token_uri`` for this type and always calls Google, so
        build ``google.oauth2.credentials.Credentials(None, refresh_token=..., client_id=...,
        client_secret=..., token_uri=emu.token_url)`` from the returned dict to use it here.
        """
        client_id = f"{secrets.token_hex(6)}.apps.googleusercontent.com"
        client_secret = "emu-" + secrets.token_urlsafe(12)
        refresh = self._state.authority.new_refresh_token(email, client_id, client_secret)
        info: dict[str, Any] = {
            "type": "authorized_user",
            "client_id": client_id,
            "client_secret": client_secret,
            "refresh_token": refresh,
            "token_uri": self.token_url,
            "account": email,
            "universe_domain": "googleapis.com",
        }
        if quota_project_id:
            info["quota_project_id"] = quota_project_id
        _write_json(path, info)
        return info

    def create_external_account_file(
        self,
        path: str | os.PathLike[str] | None,
        subject_token_path: str | os.PathLike[str],
        *,
        impersonate: str | None = None,
        audience: str = (
            "//iam.googleapis.com/projects/123456789/locations/global/"
            "workloadIdentityPools/emu-pool/providers/emu-provider"
        ),
    ) -> dict[str, Any]:
        """Create a workload identity federation config with a file-sourced subject token.

        ``token_url`` is this emulator's STS endpoint; with ``impersonate`` the federated token is
        exchanged for one of that service account through the IAM endpoint here.
        """
        info: dict[str, Any] = {
            "type": "external_account",
            "audience": audience,
            "subject_token_type": _JWT_TOKEN_TYPE,
            "token_url": self.sts_url,
            "credential_source": {"file": os.fspath(subject_token_path)},
            "universe_domain": "googleapis.com",
        }
        if impersonate:
            info["service_account_impersonation_url"] = self.iam_endpoint_for(impersonate)
        _write_json(path, info)
        return info

    # -- the clock of long-running resources -----------------------------------------------------

    @property
    def timings(self) -> Timings:
        """How long files process and jobs run, in emulator-clock seconds (assign to change)."""
        return self._state.store.timings

    @property
    def prompted_json(self) -> bool:
        """Whether a prompt saying ``JSON`` gets a JSON answer (default True; see docs)."""
        return self._state.store.prompted_json

    @prompted_json.setter
    def prompted_json(self, value: bool) -> None:
        self._state.store.prompted_json = value

    @property
    def continuation_segments(self) -> int:
        """GenerateContent answers come in this many segments (1, the default: whole).

        Each segment but the last ends with ``finishReason: CONTINUATION`` and a
        ``continuationToken``; the SDK then sends the request again with the token.
        """
        return self._state.store.continuation_segments

    @continuation_segments.setter
    def continuation_segments(self, value: int) -> None:
        if not 1 <= value <= 16:
            raise ValueError(f"continuation_segments must be from 1 to 16, got {value}")
        self._state.store.continuation_segments = value

    def live_go_away(self, time_left_s: float = 10.0) -> None:
        """Make Live sessions send ``goAway`` after each turn (``reset()`` stops it)."""
        self._state.go_away.request(time_left_s)

    def advance(self, seconds: float) -> None:
        """Move the emulator's clock forward: jobs, videos and files progress; caches expire.

        Batches and tuning jobs are PENDING for ``timings.job_start_s``, RUNNING until
        ``timings.job_run_s``, then SUCCEEDED; video operations are done after ``video_s``;
        video and audio files stay PROCESSING for ``file_processing_s``.
        """
        self._state.store.clock.advance(seconds)

    def seed(self, name: str, **fields: Any) -> None:
        """Make resource ``name`` exist, finished, as if made in the project long ago.

        ``name`` is a full resource name: ``cachedContents/ID``, ``files/ID``, ``batches/ID``,
        ``tunedModels/ID``, ``operations/ID`` (``models/M/operations/ID`` for a Veo model's
        video), or on Vertex AI ``projects/P/locations/L/{cachedContents,batchPredictionJobs,
        tuningJobs,models,endpoints,operations}/ID`` (a ``models/ID`` or ``endpoints/ID`` is the
        tuned model or endpoint of tuning job ``ID``). ``fields``
        (``model=``, ``baseModel=``, ``mimeType=``, ``data=``, ``tokens=``, ...) override the
        defaults. Seeding a name again puts the resource back as it was first seeded. Raises
        ValueError for a name it cannot make.
        """
        from golden_path.emulator._seed import seed

        seed(self._state.store, name, dict(fields), base=self.url)

    # -- scripting and faults --------------------------------------------------------------------

    def script_response(
        self,
        body: dict[str, Any] | list[dict[str, Any]],
        *,
        status: int = 200,
        model: str | None = None,
    ) -> None:
        """Answer the next generation request (for ``model`` if given) with ``body``.

        A list is sent as stream chunks (one SSE event each); a dict as one body or event.
        """
        self._state.faults.add(Fault("script", body=body, status=status, model=model))

    def fail_next(
        self,
        status: int = 429,
        *,
        times: int = 1,
        message: str | None = None,
        retry_delay_s: float | None = None,
    ) -> None:
        """Fail the next ``times`` model API requests with ``status`` in Google's error shape.

        A 429 carries QuotaFailure and RetryInfo details (``retryDelay`` defaults to "1s").
        """
        self._state.faults.add(
            Fault("fail", remaining=times, status=status, message=message,
                  retry_delay_s=retry_delay_s)
        )  # fmt: skip

    def set_latency(self, seconds: float) -> None:
        """Wait ``seconds`` before answering each model API request (0 turns it off)."""
        self._state.faults.latency_s = seconds

    def stream_error_after(self, n_chunks: int, *, times: int = 1) -> None:
        """Break the next ``times`` streams after ``n_chunks`` events with an error event."""
        self._state.faults.add(Fault("stream_error", remaining=times, chunks=n_chunks))

    def drop_next(self, times: int = 1) -> None:
        """Close the connection of the next ``times`` model API requests without answering."""
        self._state.faults.add(Fault("drop", remaining=times))

    def malformed_next(self, times: int = 1) -> None:
        """Answer the next ``times`` model API requests with 200 and a body that is not JSON."""
        self._state.faults.add(Fault("malformed", remaining=times))

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"<Emulator {self.url} {state}>"


def _write_json(path: str | os.PathLike[str] | None, info: dict[str, Any]) -> None:
    if path is not None:
        Path(path).write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
