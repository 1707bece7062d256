"""What every WorkflowTemplate of aphex declares: its identity, and what every pod of its runs gets.

:func:`template_basics` gives the keywords of Hera's ``WorkflowTemplate`` that do not depend on the
pipeline: name, namespace, the standard labels, the description annotation the Argo UI shows, the
ServiceAccount pods run as unless a template names another, the hardened pod security context, and where
pods may run and pull from (:func:`workflow_pod_placement`).
"""

from typing import Any, Final

from hera.workflows.models import LocalObjectReference, Toleration

from aphex.dsl.labels import standard_labels
from aphex.dsl.security import pod_security_context
from aphex.dsl.settings import BundleSettings

__all__ = ["DESCRIPTION_ANNOTATION", "template_basics", "workflow_pod_placement"]

DESCRIPTION_ANNOTATION: Final = "workflows.argoproj.io/description"
"""The annotation the Argo UI shows as a template's description."""


def template_basics(
    settings: BundleSettings,
    *,
    name: str,
    app_name: str,
    component: str,
    description: str,
    service_account: str,
) -> dict[str, Any]:
    """The WorkflowTemplate keywords every template of aphex has: ``name`` (the object's name) in the
    bundle's namespace, labelled as ``app_name`` of ``component``, and ``service_account`` the pods'
    default."""
    return {
        "name": name,
        "namespace": settings.namespace,
        "labels": standard_labels(
            name=app_name, component=component, version=settings.version, instance=settings.instance
        ),
        "annotations": {DESCRIPTION_ANNOTATION: description},
        "service_account_name": service_account,
        "security_context": pod_security_context(),
        **workflow_pod_placement(settings),
    }


def workflow_pod_placement(settings: BundleSettings) -> dict[str, Any]:
    """The WorkflowTemplate keywords that put every pod of a workflow where ``workflowPods`` says: the
    spec-level ``nodeSelector``, ``tolerations`` and ``imagePullSecrets``, each left out when empty.

    Argo copies them into every pod it creates, the resource steps' included: spec-level nodeSelector
    and tolerations unless a template sets its own (argo-workflows workflow/controller/workflowpod.go,
    addSchedulingConstraints), imagePullSecrets always (the pod builder in the same file).
    """
    pods = settings.workflow_pods
    return {
        "node_selector": dict(pods.node_selector) or None,
        "tolerations": [Toleration(**toleration) for toleration in pods.tolerations] or None,
        "image_pull_secrets": [
            LocalObjectReference(name=secret["name"]) for secret in pods.image_pull_secrets
        ]
        or None,
    }
