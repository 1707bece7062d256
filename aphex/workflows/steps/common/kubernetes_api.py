"""The Kubernetes API from steps: the official Python client, typed errors, retries.

A pod authenticates with its ServiceAccount (in-cluster configuration, used when Kubernetes set
``KUBERNETES_SERVICE_HOST`` in the container); anywhere else the kubeconfig (``KUBECONFIG``) is used.
Objects are written with server-side apply under one field manager
(https://kubernetes.io/docs/reference/using-api/server-side-apply/). Conflicts (409), throttling (429)
and server errors (5xx) are retried with backoff, as are refused connections; any other answer fails
at once with :class:`ApiError` naming the call, the HTTP status and the API server's message.

The Kubernetes client is imported by :func:`connect` and :class:`Cluster`, not by this module: the
pipeline definitions import the step modules (Hera's runner needs the functions), and ``aphex compile``
should not pay for a client it never builds (benchmarks/compile_benchmark.py).
"""

import json
import os
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

import urllib3

from aphex.workflows.steps.common.process import StepError

if TYPE_CHECKING:
    from kubernetes.client import ApiClient
    from kubernetes.client.exceptions import ApiException

__all__ = [
    "APPLY_CONTENT_TYPE",
    "ATTEMPTS",
    "RAW",
    "ApiError",
    "Cluster",
    "NotFound",
    "connect",
]

APPLY_CONTENT_TYPE: Final = "application/apply-patch+yaml"
ATTEMPTS: Final = 5
"""Tries of one call; waits of 1, 2, 4, 8 seconds in between (or the server's ``Retry-After``)."""
_RETRIED: Final = frozenset({409, 429, 500, 502, 503, 504})
_REQUEST_TIMEOUT: Final = 60.0
RAW: Final[dict[str, Any]] = {"_preload_content": False, "_request_timeout": _REQUEST_TIMEOUT}
"""Options of every typed call: the API server's JSON as sent (no model round trip), a timeout."""


class ApiError(StepError):
    """The API server refused a call (or could not be reached: ``status`` 0)."""

    def __init__(self, what: str, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"{what}: HTTP {status}: {message}" if status else f"{what}: {message}")


class NotFound(ApiError):
    """The object does not exist (HTTP 404)."""


def _message(error: "ApiException") -> str:
    """The ``message`` of the Status the API server answered with, else the reason phrase."""
    try:
        status = json.loads(error.body or "")
    except ValueError:
        return str(error.reason or "")
    return str(status.get("message") or error.reason or "") if isinstance(status, dict) else str(error.reason)


def _retry_after(error: "ApiException", default: float) -> float:
    value = (error.headers or {}).get("Retry-After", "")
    return float(value) if value.isdigit() else default


def _sleep(seconds: float) -> None:
    """Waiting between attempts (a seam for tests)."""
    time.sleep(seconds)


class Cluster:
    """The typed API groups a step uses, every call through :meth:`call`."""

    def __init__(self, api: "ApiClient", *, field_manager: str) -> None:
        from kubernetes import client

        self.api = api
        self.field_manager = field_manager
        self.core = client.CoreV1Api(api)
        self.rbac = client.RbacAuthorizationV1Api(api)
        self.networking = client.NetworkingV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)
        self.custom = client.CustomObjectsApi(api)

    def call(self, what: str, request: Callable[[], Any]) -> dict[str, Any]:
        """Run ``request`` (a typed call with :data:`RAW` options) and decode its JSON answer; retry
        conflicts, throttling, 5xx and connection failures; raise :class:`ApiError` otherwise."""
        from kubernetes.client.exceptions import ApiException

        for attempt in range(1, ATTEMPTS + 1):
            wait = float(2 ** (attempt - 1))
            try:
                answer: dict[str, Any] = json.loads(request().data or b"{}")
                return answer
            except ApiException as error:
                status = int(error.status or 0)
                if status in _RETRIED and attempt < ATTEMPTS:
                    _sleep(_retry_after(error, wait))
                    continue
                kind = NotFound if status == 404 else ApiError
                raise kind(what, status, _message(error)) from None
            except urllib3.exceptions.HTTPError as error:
                if attempt < ATTEMPTS:
                    _sleep(wait)
                    continue
                raise ApiError(what, 0, f"the API server cannot be reached ({error})") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def apply(self, manifest: Mapping[str, Any]) -> None:
        """Server-side apply ``manifest`` (forcing this field manager's ownership of what it sets)."""
        kind = str(manifest["kind"])
        name = str(manifest["metadata"]["name"])
        namespace = str(manifest["metadata"].get("namespace", ""))
        options: dict[str, Any] = {
            "field_manager": self.field_manager,
            "force": True,
            "_content_type": APPLY_CONTENT_TYPE,
            **RAW,
        }
        body = dict(manifest)
        requests: dict[str, Callable[[], object]] = {
            "Namespace": lambda: self.core.patch_namespace(name, body, **options),
            "ResourceQuota": lambda: self.core.patch_namespaced_resource_quota(
                name, namespace, body, **options
            ),
            "LimitRange": lambda: self.core.patch_namespaced_limit_range(name, namespace, body, **options),
            "RoleBinding": lambda: self.rbac.patch_namespaced_role_binding(name, namespace, body, **options),
            "NetworkPolicy": lambda: self.networking.patch_namespaced_network_policy(
                name, namespace, body, **options
            ),
        }
        if kind not in requests:
            raise StepError(f"apply: {kind} is not an object steps write")
        where = f"{namespace}/" if namespace else ""
        self.call(f"apply {kind} {where}{name}", requests[kind])


def connect(*, field_manager: str) -> Cluster:
    """A client configured from the pod's ServiceAccount, or from ``KUBECONFIG`` outside a cluster."""
    from kubernetes import client, config

    configuration = client.Configuration()
    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
            )
    except (config.ConfigException, OSError) as error:
        raise StepError(f"no Kubernetes credentials: {error}") from None
    # Retries are ours (Cluster.call); urllib3's own would hide how many attempts were made.
    configuration.retries = 0
    return Cluster(client.ApiClient(configuration), field_manager=field_manager)
