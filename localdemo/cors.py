"""The edge's CORS response-headers policy, with CloudFront's semantics.

- Headers are added only to a response to a request that carries `Origin`; a request without
  it (curl, a health checker, a same-origin page) gets none, as from CloudFront.
- The policy overrides the origin: whatever `Access-Control-*` headers a region sent are
  dropped and the policy's are set, so the edge alone decides what a browser may read.
- An allowed origin is echoed back (`*` when the policy allows any origin); an origin that is
  not allowed gets no CORS headers at all, and the browser refuses the answer.
- A preflight (`OPTIONS` with `Access-Control-Request-Method`) also gets the allowed methods,
  headers and max age.

The security headers CloudFront's policy adds sit here too, since they are set the same way,
with the values of components/edge.py. One difference: a response that already has its own
Content-Security-Policy keeps it, so that the local status page (which loads its script and
style) can run; every API answer gets the API's `default-src 'none'`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from multidict import CIMultiDict

# The stacks' response-headers policy (components/edge.py), so that the browser sees the same
# answers locally as from CloudFront. Two exposed headers exist only here: X-Cache and
# X-Vetroi-Source say which origin or cache answered.
ALLOWED_METHODS = "GET,HEAD,OPTIONS,POST"
ALLOWED_HEADERS = "Content-Type,Authorization,X-Api-Key,X-Amz-Date,X-Amz-Security-Token"
EXPOSED_HEADERS = "X-Data-Source,X-Request-Id,X-Cache,X-Vetroi-Source"
MAX_AGE = "600"

SECURITY_HEADERS = {
    "Strict-Transport-Security": "max-age=63072000; includeSubDomains",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "X-XSS-Protection": "0",
}
API_CONTENT_SECURITY_POLICY = "default-src 'none'; frame-ancestors 'none'"


@dataclass(frozen=True)
class CorsPolicy:
    origins: tuple[str, ...]

    @property
    def allow_any(self) -> bool:
        return "*" in self.origins

    def allows(self, origin: str) -> bool:
        return self.allow_any or origin in self.origins

    def apply(
        self,
        headers: CIMultiDict[str],
        origin: str | None,
        method: str,
        preflight_method: str | None,
    ) -> None:
        """Set the policy's headers on `headers` (a response's), in place."""
        for name in list(headers.keys()):
            if name.lower().startswith("access-control-"):
                headers.popall(name, None)
        for name, value in SECURITY_HEADERS.items():
            headers[name] = value
        headers.setdefault("Content-Security-Policy", API_CONTENT_SECURITY_POLICY)
        if not origin:
            return
        if not self.allows(origin):
            return
        headers["Access-Control-Allow-Origin"] = "*" if self.allow_any else origin
        if not self.allow_any:
            _add_vary(headers, "Origin")
        headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if method == "OPTIONS" and preflight_method:
            headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            headers["Access-Control-Max-Age"] = MAX_AGE


def _add_vary(headers: CIMultiDict[str], name: str) -> None:
    present = _tokens(headers.getall("Vary", []))
    if name.lower() not in {token.lower() for token in present}:
        headers["Vary"] = ", ".join([*present, name])


def _tokens(values: Iterable[str]) -> list[str]:
    return [token.strip() for value in values for token in value.split(",") if token.strip()]
