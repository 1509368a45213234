"""An embedded Gemini API emulator: the real wire protocol on loopback, no credentials needed.

Serves the Gemini Developer API and Vertex AI model methods, Google's OpenAI-compatible
endpoints, and the OAuth2 / STS / IAM endpoints google-auth talks to, so the real google-genai
SDK, ``openai`` and plain HTTP clients can be tested end to end::

    from golden_path.emulator import Emulator

    with Emulator() as emu:
        client = genai.Client(api_key="any", http_options=HttpOptions(base_url=emu.url))
        client.models.generate_content(model="gemini-2.5-flash", contents="hi").text
        # -> "Echo: hi"

Importing this package is cheap: ``http.server`` and ``cryptography`` load on first use.
"""

from golden_path.emulator._emulator import Emulator
from golden_path.emulator._records import IssuedToken, RecordedRequest
from golden_path.emulator._resources import Timings

__all__ = ["Emulator", "IssuedToken", "RecordedRequest", "Timings"]
