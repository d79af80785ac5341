"""An httpx transport that connects only to addresses the SSRF guard accepted.

Each request's host is resolved and checked (``urls.resolve``) just before sending, and the
connection goes to the checked address itself: the URL's host is replaced by that IP, while
the ``Host`` header and the TLS server name (``sni_hostname``, also used to verify the
certificate) stay the original name. So a name that resolves to a public address at the check
and to a private one a moment later (DNS rebinding) cannot redirect the connection.
"""

from __future__ import annotations

import httpx

from mlgraph.webhooks.urls import Policy, UnsafeUrl, check_syntax, resolve


class RefusedAddress(httpx.TransportError):
    """The guard refused the request's destination; nothing was connected."""


class PinnedTransport(httpx.AsyncBaseTransport):
    def __init__(self, policy: Policy, inner: httpx.AsyncBaseTransport | None = None) -> None:
        self._policy = policy
        self._inner = inner or httpx.AsyncHTTPTransport(retries=0)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            check_syntax(str(request.url), self._policy)
            addresses = await resolve(request.url, self._policy)
        except UnsafeUrl as refused:
            raise RefusedAddress(refused.message, request=request) from None
        host = request.url.host
        pinned = httpx.Request(
            request.method,
            request.url.copy_with(host=str(addresses[0])),
            headers=request.headers,  # keeps Host: <name>
            stream=request.stream,
            extensions={**request.extensions, "sni_hostname": host},
        )
        return await self._inner.handle_async_request(pinned)

    async def aclose(self) -> None:
        await self._inner.aclose()
