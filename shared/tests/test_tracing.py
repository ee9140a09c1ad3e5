"""OpenTelemetry: the SDK's span around every request is kept only when a tracer provider is set.

Without one every span records nothing, so the base leaves that middleware out
(`sdk.trace_only_when_configured`). A provider can be set once per process, so the traced
case runs in a child process.
"""

import json
import subprocess
import sys
import textwrap

import pytest
from opentelemetry import trace

from patchbay.audit import AuditLog
from patchbay.example.server import connector
from patchbay.sdk import OpenTelemetryMiddleware
from patchbay.testing import connect

pytestmark = pytest.mark.anyio


async def test_without_a_tracer_provider_requests_carry_no_span_but_are_still_audited(era: str) -> None:
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)  # nothing set in this process
    server = connector.build(connector.load_settings({}))
    kinds = [type(m) for m in server.middleware]
    assert OpenTelemetryMiddleware not in kinds
    assert AuditLog in kinds
    async with connect(connector, era=era) as client:
        result = await client.call_tool("echo", {"text": "hi"})
    assert result.structured_content == {"text": "hi"}


TRACED = textwrap.dedent(
    """
    import json

    import anyio
    from opentelemetry import trace
    from opentelemetry.trace import NoOpTracer, NoOpTracerProvider

    names = []

    class Tracer(NoOpTracer):
        def start_as_current_span(self, name, *args, **kwargs):
            names.append(name)
            return super().start_as_current_span(name, *args, **kwargs)

    class Provider(NoOpTracerProvider):
        def get_tracer(self, *args, **kwargs):
            return Tracer()

    trace.set_tracer_provider(Provider())

    from patchbay.example.server import connector
    from patchbay.testing import connect

    async def main():
        async with connect(connector, era="{era}") as client:
            await client.call_tool("echo", {{"text": "hi"}})
        print(json.dumps(names))

    anyio.run(main)
    """
)


@pytest.mark.parametrize("era", ["legacy", "2026-07-28"])
def test_with_a_tracer_provider_every_request_gets_its_span(era: str) -> None:
    run = subprocess.run(
        [sys.executable, "-c", TRACED.format(era=era)], capture_output=True, text=True, timeout=60, check=False
    )
    assert run.returncode == 0, run.stderr
    names = json.loads(run.stdout.splitlines()[-1])
    assert "tools/call echo" in names
