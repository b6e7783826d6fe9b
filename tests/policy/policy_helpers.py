"""What the policy tests share: a scripted Messages API on a loopback port for the real SDK to call."""

from __future__ import annotations

from aiohttp import web


async def serve_messages(handler) -> tuple[web.AppRunner, str]:
    """Serve ``handler`` as ``POST /v1/messages`` on 127.0.0.1 (a free port); (runner, base URL).
    The caller ends it with ``await runner.cleanup()``."""
    app = web.Application()
    app.router.add_post("/v1/messages", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
