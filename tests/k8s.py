"""deploy/k8s as the tests read it: each file's documents, and the production overlay as
`kubectl kustomize` renders it (kustomize v5 is needed: kubectl 1.27 or later)."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
K8S = ROOT / "deploy" / "k8s"
OVERLAY = K8S / "production"
# Groups whose kinds are an operator's (or KEDA's): no Kubernetes schema covers them.
CUSTOM_GROUPS = ("rabbitmq.com", "postgresql.cnpg.io", "databases.spotahome.com", "keda.sh")

Document = dict[str, Any]


def is_custom(document: Document) -> bool:
    return document["apiVersion"].split("/")[0] in CUSTOM_GROUPS


def documents_of(path: Path) -> list[Document]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomize_version() -> tuple[int, ...] | None:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        return None
    printed = subprocess.run([kubectl, "version", "--client"], capture_output=True,
                             text=True, timeout=60).stdout
    found = re.search(r"Kustomize Version: v(\d+)\.(\d+)", printed)
    return tuple(int(part) for part in found.groups()) if found else None


@cache
def rendered(overlay: Path = OVERLAY) -> list[Document]:
    """The overlay rendered by kubectl; skips, saying why, where kubectl cannot."""
    version = kustomize_version()
    if version is None or version < (5, 0):
        pytest.skip("rendering deploy/k8s needs kubectl 1.27 or later (kustomize v5); "
                    "this machine has " + ("no kubectl" if version is None else
                                           f"kustomize v{version[0]}.{version[1]}"))
    output = subprocess.run(["kubectl", "kustomize", str(overlay)], capture_output=True,
                            text=True, timeout=120, check=True).stdout
    return [doc for doc in yaml.safe_load_all(output) if doc]


def of_kind(documents: list[Document], kind: str) -> dict[str, Document]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


def consumed_queues(service: type) -> set[str]:
    """The queues a service class consumes that outlive a connection: its RPC queue and
    its reliable event handlers' queues (nameko's names for them)."""
    from nameko.extensions import ENTRYPOINT_EXTENSIONS_ATTR
    from nameko.rpc import Rpc

    from shop.redelivery import RetryingEventHandler

    queues = set()
    for method_name, method in vars(service).items():
        for entrypoint in getattr(method, ENTRYPOINT_EXTENSIONS_ATTR, ()):
            if isinstance(entrypoint, Rpc):
                queues.add(f"rpc-{service.name}")  # type: ignore[attr-defined]
            elif isinstance(entrypoint, RetryingEventHandler) and entrypoint.reliable_delivery:
                queues.add(f"evt-{entrypoint.source_service}-{entrypoint.event_type}--"
                           f"{service.name}.{method_name}")  # type: ignore[attr-defined]
    return queues


def service_class(name: str) -> type:
    """The roster's service class of that name."""
    import importlib

    from shop.roster import entry

    module, cls = entry(name).split(":")
    found: type = getattr(importlib.import_module(module), cls)
    return found
