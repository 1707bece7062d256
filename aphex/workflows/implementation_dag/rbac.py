"""ServiceAccounts, Roles and bindings of the implementation DAG and the agent templates.

One ServiceAccount per kind of stage, each with exactly the rules its steps use (exact API groups, no
wildcards; see https://kubernetes.io/docs/reference/access-authn-authz/rbac/):

Names derive from the instance (:class:`aphex.dsl.settings.ObjectNames`): namespaced objects are
``<instance>-<role>``, cluster-scoped ones ``<instance>-<namespace>-<role>`` so that two instances, even
two Helm releases of one name in different namespaces, never share an object.

- ``<instance>-steps``: pods that only compute or call GitHub; needs only what Argo's executor needs to
  report outputs (``workflowtaskresults``).
- ``<instance>-agents``: applies the agent platform's ``coderuns``/``docsruns`` and watches them.
- ``<instance>-preview-deployer``: manages preview namespaces (:func:`aphex.dsl.names.preview_namespace`) and,
  inside each one, binds itself to ``<instance>-<namespace>-preview-workloads`` with a RoleBinding; that
  is the only way it reaches workloads and Secrets (Helm's release storage). RBAC alone would let it
  bind that role anywhere (``rolebindings`` create is cluster-wide because previews are created at run
  time); the admission policy of :mod:`aphex.workflows.implementation_dag.admission` confines it to its own
  previews.
"""

from typing import Final

from aphex.dsl.rbac import EXECUTOR_RULE, RBAC_API, Manifest, account_objects, binding, cluster_role
from aphex.dsl.settings import BundleSettings
from aphex.workflows.implementation_dag.dag import PREVIEW_WORKLOADS_ROLE
from aphex.workflows.steps.common.accounts import Account

__all__ = ["rbac_objects"]

_WORKLOAD_VERBS: Final = ["get", "list", "watch", "create", "update", "patch", "delete"]
_PREVIEW_WORKLOAD_RULES: Final = [
    {
        "apiGroups": [""],
        "resources": [
            "configmaps",
            "persistentvolumeclaims",
            "secrets",
            "serviceaccounts",
            "services",
        ],
        "verbs": _WORKLOAD_VERBS,
    },
    {
        "apiGroups": [""],
        "resources": ["pods", "pods/log", "events", "endpoints"],
        "verbs": ["get", "list", "watch"],
    },
    # Written by the deployer only as aphex.workflows.implementation_dag.admission admits them: aphex's quota
    # and LimitRange.
    {"apiGroups": [""], "resources": ["resourcequotas", "limitranges"], "verbs": _WORKLOAD_VERBS},
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "statefulsets", "replicasets", "daemonsets"],
        "verbs": _WORKLOAD_VERBS,
    },
    {"apiGroups": ["batch"], "resources": ["jobs", "cronjobs"], "verbs": _WORKLOAD_VERBS},
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["ingresses", "networkpolicies"],
        "verbs": _WORKLOAD_VERBS,
    },
    {"apiGroups": ["autoscaling"], "resources": ["horizontalpodautoscalers"], "verbs": _WORKLOAD_VERBS},
    {"apiGroups": ["policy"], "resources": ["poddisruptionbudgets"], "verbs": _WORKLOAD_VERBS},
]


def rbac_objects(settings: BundleSettings) -> list[Manifest]:
    """Every RBAC object of the implementation DAG and the agent templates."""
    names = settings.names
    deployer = names.object(Account.PREVIEW_DEPLOYER)
    namespaces_role = names.cluster("preview-namespaces")
    workloads_role = names.cluster(PREVIEW_WORKLOADS_ROLE)
    agent_rule = {
        "apiGroups": [settings.agent_api_group],
        "resources": ["coderuns", "docsruns"],
        # `apply` (kubectl: get, then create or patch) so that a retried stage adopts its own run;
        # `delete` for stop-agents, which ends the unfinished runs of a run that did not succeed.
        "verbs": ["create", "delete", "get", "list", "patch", "watch"],
    }
    return [
        *account_objects(Account.STEPS, [EXECUTOR_RULE], settings),
        *account_objects(Account.AGENTS, [EXECUTOR_RULE, agent_rule], settings),
        *account_objects(Account.PREVIEW_DEPLOYER, [EXECUTOR_RULE], settings),
        cluster_role(
            namespaces_role,
            "preview-namespaces",
            [
                {
                    "apiGroups": [""],
                    "resources": ["namespaces"],
                    # `list` for preview-janitor, which finds the previews past their expiry.
                    "verbs": ["get", "list", "create", "patch", "delete"],
                },
                {
                    "apiGroups": [RBAC_API],
                    "resources": ["rolebindings"],
                    "verbs": ["get", "create", "patch"],
                },
                {
                    "apiGroups": [RBAC_API],
                    "resources": ["clusterroles"],
                    "verbs": ["bind"],
                    "resourceNames": [workloads_role],
                },
            ],
            settings,
        ),
        binding(
            "ClusterRoleBinding",
            namespaces_role,
            "preview-namespaces",
            "ClusterRole",
            namespaces_role,
            deployer,
            settings,
        ),
        cluster_role(workloads_role, PREVIEW_WORKLOADS_ROLE, _PREVIEW_WORKLOAD_RULES, settings),
    ]
