"""deploy/k8s: valid against the Kubernetes schemas, the operators' resources carrying
what the shop relies on, and the invariants that tie the manifests to the code."""

import re

import kubernetes_validate
import pytest

from shop.config import load_config
from shop.roster import BACKENDS, GATEWAY, SERVICES, entry
from tests.k8s import (
    K8S,
    ROOT,
    consumed_queues,
    documents_of,
    is_custom,
    of_kind,
    rendered,
    service_class,
)

# The oldest Kubernetes the manifests are for, and the newest the schemas know.
KUBERNETES_VERSIONS = ("1.29.0", kubernetes_validate.latest_version())
FILES = sorted(path for path in K8S.rglob("*.yaml") if path.name != "kustomization.yaml")
CONFIG = load_config("config.yml")
CONFIG_VARIABLES = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", (ROOT / "config.yml").read_text()))


@pytest.mark.parametrize("path", FILES, ids=lambda path: str(path.relative_to(K8S)))
def test_each_file_is_valid_kubernetes_on_its_own(path):
    """Needs no kubectl: the base and the overlay's own resources, file by file."""
    for document in documents_of(path):
        if is_custom(document):
            continue
        for version in KUBERNETES_VERSIONS:
            kubernetes_validate.validate(document, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_the_rendered_overlay_is_valid_kubernetes(version):
    checked = 0
    for document in rendered():
        if not is_custom(document):
            kubernetes_validate.validate(document, version, strict=True)
            checked += 1
    assert checked >= 20


def test_every_resource_lands_in_the_overlay_namespace():
    for document in rendered():
        if document["kind"] != "Namespace":
            assert document["metadata"]["namespace"] == "shop", document["metadata"]["name"]


def test_a_deployment_per_service_running_it_with_nameko_run_in_exec_form():
    deployments = of_kind(rendered(), "Deployment")
    assert set(deployments) == set(SERVICES)
    for name, deployment in deployments.items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        assert container["command"] == ["nameko", "run", "--config", "config.yml",
                                        entry(name)], name
        assert container["image"] == "registry.example.com/nameko-shop:0.1.0"


def test_every_deployment_has_the_probes_of_its_kind():
    for name, deployment in of_kind(rendered(), "Deployment").items():
        [container] = deployment["spec"]["template"]["spec"]["containers"]
        alive = container["livenessProbe"]["exec"]["command"]
        assert alive == ["python", "-m", "shop.healthcheck", name], name
        assert container["startupProbe"]
        ready = container["readinessProbe"]
        if name == GATEWAY:  # the drain answers 503 here first
            assert ready["httpGet"] == {"path": "/health", "port": "http"}
        else:
            assert ready["exec"]["command"] == ["python", "-m", "shop.healthcheck", name,
                                                "--ready"]


def test_every_process_gets_one_core_and_runs_locked_down():
    for name, deployment in of_kind(rendered(), "Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        [container] = pod["containers"]
        assert container["resources"]["requests"]["cpu"] == "1", name
        assert container["resources"]["limits"]["cpu"] == "1", name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {mount["mountPath"] for mount in container["volumeMounts"]} == {"/data", "/tmp"}
        assert pod["automountServiceAccountToken"] is False
        assert {c["topologyKey"] for c in pod["topologySpreadConstraints"]} == {
            "topology.kubernetes.io/zone", "kubernetes.io/hostname"}


def test_the_liveness_files_land_on_a_writable_volume():
    config_maps = of_kind(rendered(), "ConfigMap")
    assert config_maps["nameko-shop-config"]["data"]["LIVENESS_DIR"].startswith("/tmp/")


def test_the_gateway_grace_period_covers_its_drain_and_a_call():
    gateway = of_kind(rendered(), "Deployment")[GATEWAY]["spec"]["template"]["spec"]
    env = {item["name"]: item["value"] for item in gateway["containers"][0]["env"]}
    drain = float(env["SHUTDOWN_DRAIN_SECONDS"])
    assert drain > 0
    assert gateway["terminationGracePeriodSeconds"] >= drain + CONFIG["RPC_TIMEOUT_SECONDS"] + 5


def test_a_disruption_budget_for_every_deployment():
    deployments = of_kind(rendered(), "Deployment")
    budgets = of_kind(rendered(), "PodDisruptionBudget")
    assert set(budgets) == set(deployments)
    for name, budget in budgets.items():
        assert budget["spec"]["selector"] == deployments[name]["spec"]["selector"]
        assert budget["spec"]["maxUnavailable"] == 1


def test_every_setting_given_is_one_config_yml_reads():
    documents = rendered()
    given = set(of_kind(documents, "ConfigMap")["nameko-shop-config"]["data"])
    for deployment in of_kind(documents, "Deployment").values():
        given |= {item["name"] for item in
                  deployment["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    assert given <= CONFIG_VARIABLES


def test_keda_scales_each_backend_on_exactly_the_queues_it_consumes():
    documents = rendered()
    scaled = of_kind(documents, "ScaledObject")
    authentications = of_kind(documents, "TriggerAuthentication")
    assert set(scaled) == set(BACKENDS)
    for name, scaled_object in scaled.items():
        assert scaled_object["spec"]["scaleTargetRef"]["name"] == name
        triggers = scaled_object["spec"]["triggers"]
        assert {t["metadata"]["queueName"] for t in triggers} == \
            consumed_queues(service_class(name)), name
        for trigger in triggers:  # http: messages delivered but unacked count too
            assert trigger["type"] == "rabbitmq"
            assert trigger["metadata"]["protocol"] == "http"
            assert trigger["metadata"]["mode"] == "QueueLength"
            assert trigger["authenticationRef"]["name"] in authentications


def test_the_gateway_scales_on_cpu_from_two_pods():
    hpa = of_kind(rendered(), "HorizontalPodAutoscaler")[GATEWAY]["spec"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                     "name": GATEWAY}
    assert hpa["minReplicas"] >= 2


def test_rabbitmq_is_three_nodes_that_pause_when_in_a_minority():
    [cluster] = of_kind(rendered(), "RabbitmqCluster").values()
    assert cluster["apiVersion"] == "rabbitmq.com/v1beta1"
    assert cluster["spec"]["replicas"] == 3
    assert "cluster_partition_handling = pause_minority" in \
        cluster["spec"]["rabbitmq"]["additionalConfig"]


def test_postgresql_is_three_instances_behind_a_transaction_pooler_with_every_database():
    documents = rendered()
    [(name, cluster)] = of_kind(documents, "Cluster").items()
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] == 3
    databases = {cluster["spec"]["bootstrap"]["initdb"]["database"]}
    for database in of_kind(documents, "Database").values():
        assert database["spec"]["cluster"]["name"] == name
        databases.add(database["spec"]["name"])
    assert databases == set(BACKENDS)
    [pooler] = of_kind(documents, "Pooler").values()
    assert pooler["spec"]["cluster"]["name"] == name
    assert pooler["spec"]["type"] == "rw"
    assert pooler["spec"]["pgbouncer"]["poolMode"] == "transaction"


def test_redis_has_three_sentinels_that_the_gateway_asks():
    documents = rendered()
    [(name, failover)] = of_kind(documents, "RedisFailover").items()
    assert failover["apiVersion"] == "databases.spotahome.com/v1"
    assert failover["spec"]["sentinel"]["replicas"] == 3
    assert failover["spec"]["redis"]["replicas"] >= 2
    config = of_kind(documents, "ConfigMap")["nameko-shop-config"]["data"]
    # The Redis Operator names the Sentinels' Service rfs-<name>; its master, mymaster.
    assert config["REDIS_SENTINELS"] == f"rfs-{name}:26379"
    assert config["REDIS_SENTINEL_MASTER"] == "mymaster"


def test_every_process_serves_its_metrics_where_prometheus_is_told_to_look():
    deployments = of_kind(rendered(), "Deployment")
    for name in (GATEWAY, *BACKENDS):
        template = deployments[name]["spec"]["template"]
        container = template["spec"]["containers"][0]
        env = {item["name"]: item["value"] for item in container["env"]}
        (port,) = [port for port in container["ports"] if port["name"] == "metrics"]
        assert int(env["METRICS_PORT"]) == port["containerPort"] == int(
            template["metadata"]["annotations"]["prometheus.io/port"]), name
        assert env["METRICS_ADDRESS"] == "0.0.0.0"  # the pod's address, not its loopback


def test_only_the_gateway_and_prometheus_take_connections():
    policies = of_kind(rendered(), "NetworkPolicy")
    closed = policies["nameko-shop-no-ingress"]["spec"]
    assert closed["podSelector"]["matchLabels"] == {"app.kubernetes.io/part-of": "nameko-shop"}
    assert closed["ingress"] == []
    opened = policies["gateway-http"]["spec"]
    assert opened["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": GATEWAY}
    assert opened["ingress"] == [{"ports": [{"port": "http", "protocol": "TCP"}]}]
    scraped = policies["metrics"]["spec"]
    assert set(scraped["podSelector"]["matchExpressions"][0]["values"]) == {GATEWAY, *BACKENDS}
    assert scraped["ingress"] == [{
        "from": [{"namespaceSelector": {"matchLabels": {
            "kubernetes.io/metadata.name": "monitoring"}}}],
        "ports": [{"port": "metrics", "protocol": "TCP"}]}]
    for deployment in of_kind(rendered(), "Deployment").values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "nameko-shop"
