"""The one error renderer: a BastionError → the ingress API's envelope, status and headers."""

from __future__ import annotations

import math

from bastion.core.errors import BastionError
from bastion.core.types import Ingress
from bastion.http.types import HttpResponse
from bastion.providers.registry import ingress_format


def error_response(err: BastionError, ingress: Ingress, extra_headers: dict[str, str] | None = None
                   ) -> HttpResponse:
    headers = dict(extra_headers or {})
    headers.update(err.headers)
    if err.retry_after is not None:
        headers["retry-after"] = str(max(1, math.ceil(err.retry_after)))
    body = ingress_format(ingress).encode_error(err)
    return HttpResponse.json(body, status=err.status, headers=headers)
