"""One Deployment and one NodePool, as YAML, as dicts, and as the kubernetes client's
objects would give them (``to_dict()``: snake_case field names)."""

import re

DEPLOYMENT_YAML = """
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop, labels: {app_tier: front}}
spec:
  replicas: 5
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      nodeSelector: {kubernetes.io/arch: amd64}
      containers:
      - name: web
        image: nginx
        resources: {requests: {cpu: 500m, memory: 1Gi}}
"""

NODEPOOL_YAML = """
apiVersion: karpenter.sh/v1
kind: NodePool
metadata: {name: general}
spec:
  limits: {cpu: "1000"}
  template:
    spec:
      nodeClassRef: {group: karpenter.k8s.aws, kind: EC2NodeClass, name: default}
      requirements:
      - {key: karpenter.sh/capacity-type, operator: In, values: [on-demand]}
      - {key: karpenter.k8s.aws/instance-category, operator: In, values: [m]}
"""


def deployment():
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app_tier": "front"}},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "nodeSelector": {"kubernetes.io/arch": "amd64"},
                    "containers": [
                        {"name": "web", "image": "nginx", "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}}}
                    ],
                },
            },
        },
    }


def nodepool():
    return {
        "apiVersion": "karpenter.sh/v1",
        "kind": "NodePool",
        "metadata": {"name": "general"},
        "spec": {
            "limits": {"cpu": "1000"},
            "template": {
                "spec": {
                    "nodeClassRef": {"group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"},
                    "requirements": [
                        {"key": "karpenter.sh/capacity-type", "operator": "In", "values": ["on-demand"]},
                        {"key": "karpenter.k8s.aws/instance-category", "operator": "In", "values": ["m"]},
                    ],
                }
            },
        },
    }


# Maps whose keys are data: the client leaves them as they are.
_DATA = {"labels", "matchLabels", "nodeSelector", "requests", "limits"}


def snake(obj, parent=""):
    """The dict as the kubernetes client's to_dict() gives it: snake_case field names,
    unset fields as None."""
    if isinstance(obj, dict):
        out = {}
        for k, v in obj.items():
            key = k if parent in _DATA else re.sub(r"(?<!^)([A-Z])", lambda m: "_" + m.group(1).lower(), k)
            out[key] = snake(v, k)
        if parent == "" or "containers" in obj:
            out.setdefault("status", None)
        return out
    if isinstance(obj, list):
        return [snake(v, parent) for v in obj]
    return obj


class ClientObject:
    """Stands for a kubernetes client model: something with to_dict()."""

    def __init__(self, d):
        self._d = d

    def to_dict(self):
        return self._d
