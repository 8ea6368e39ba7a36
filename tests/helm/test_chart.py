"""The Helm chart: lint, documentation, schema, Kubernetes validity and the wiring.

Rendered without a helm binary by helm-python-sdk; every manifest is validated against
the Kubernetes API schemas by kubernetes-validate.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import helm_python as helm
import kubernetes_validate
import pytest
import yaml
from pydantic_settings import BaseSettings

from shopwindow.cli import build_parser
from shopwindow.materializer.sources import CORE
from shopwindow.settings import GatewaySettings, KafkaToolSettings, MaterializerSettings
from shopwindow.topics import TopicNames
from tests import kinds

CHART = Path(__file__).resolve().parents[2] / "helm" / "shopwindow"
KUBERNETES_VERSION = "1.30.0"
# CRDs of the Prometheus Operator: validated against their own schemas below, not by
# kubernetes-validate, which knows only the core API.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}

NON_DEFAULT: dict[str, Any] = {
    "image": {"digest": "sha256:" + "a" * 64, "pullSecrets": ["registry"]},
    "kafka": {"bootstrapServers": "kafka-0:9092,kafka-1:9092"},
    "mongodb": {
        "existingSecret": "mongo-credentials",
        "existingSecretUriKey": "uri",
        "database": "shop",
    },
    "auth": {
        "existingSecret": "jwt-keys",
        "jwt": {"mode": "rs256-jwks", "audience": "shop", "issuer": "https://id.shop.example"},
    },
    "gateway": {
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "hostname": "api.shop.example",
            "tlsSecret": "api-tls",
        },
        "autoscaling": {"enabled": True, "minReplicas": 3, "maxReplicas": 12},
        "containerPort": 8080,
        "graphiql": True,
        "documentCacheMB": 0,
        "httpCache": {"maxAgeSeconds": 60},
        "responseCacheMB": 7,
        "persistedQueries": {"trustedDocumentsConfigMap": "shop-operations"},
        "search": {"commitIntervalMs": 500, "priceRanges": ["5", "20.5"], "maxWords": 6},
        "extraEnv": [{"name": "SHOPWINDOW_MAX_TOKENS", "value": "5000"}],
    },
    "materializer": {
        "replicaCount": 6,
        "containerPort": 9200,
        "groupId": "shop-materializer",
        "trendingHalfLifeSeconds": 3600,
    },
    "markets": {
        "enabled": True,
        "defaultMarket": "eu",
        "list": [
            {"id": "eu", "countries": ["DE", "NO"], "currency": "EUR", "default_language": "en"},
            {
                "id": "ch",
                "countries": ["CH"],
                "currency": "CHF",
                "default_language": "de",
                "fallback": "eu",
            },
        ],
    },
    "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}},
    "networkPolicy": {"enabled": True, "allowExternal": False},
    "topics": {"inventory": "stock.deltas"},
    "topicsJob": {"enabled": True, "withInputs": True, "partitions": 24},
}

Manifest = dict[str, Any]


def render(values: dict[str, Any]) -> dict[str, Any]:
    with helm.Chart.load(str(CHART)) as chart:
        files = chart.render(values, name="shop", namespace="retail")
    return files


def manifests(values: dict[str, Any]) -> list[Manifest]:
    return [
        doc
        for name, text in render(values).items()
        if name.endswith(".yaml")
        for doc in yaml.safe_load_all(text)
        if doc
    ]


def find(docs: list[Manifest], kind: str, name: str) -> Manifest:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_the_chart_lints_clean() -> None:
    report = helm.lint(str(CHART))
    assert report["errors"] == [] and report["messages"] == []


def leaves(values: Any, prefix: str = "") -> Iterator[str]:
    if isinstance(values, dict) and values:
        for key, value in values.items():
            yield from leaves(value, f"{prefix}{key}.")
    else:
        yield prefix.rstrip(".")


def test_every_value_is_documented() -> None:
    text = (CHART / "values.yaml").read_text()
    documented = set(re.findall(r"^\s*## @param (\S+)", text, re.MULTILINE))
    keys = set(leaves(yaml.safe_load(text)))
    undocumented = {k for k in keys if not any(k == d or k.startswith(d + ".") for d in documented)}
    assert undocumented == set()
    prefixes = {".".join(k.split(".")[:n]) for k in keys for n in range(1, k.count(".") + 2)}
    assert documented - prefixes == set(), "documented values that do not exist"


def test_the_schema_covers_every_value() -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())

    def covered(path: str) -> bool:
        node = schema
        for part in path.split("."):
            if "properties" not in node:
                return bool(node.get("type") == "object")  # A free-form map, such as labels.
            if part not in node["properties"]:
                return False
            node = node["properties"][part]
        return True

    values = yaml.safe_load((CHART / "values.yaml").read_text())
    assert [path for path in leaves(values) if not covered(path)] == []


@pytest.mark.parametrize(
    "values",
    [
        {"logLevel": "LOUD"},
        {"gateway": {"replicaz": 2}},
        {"auth": {"jwt": {"mode": "magic"}}},
        {"gateway": {"containerPort": 70000}},
        {"kafka": {"bootstrapServers": ""}},
        {"markets": {"enabled": True, "defaultMarket": "", "list": []}},
        {"markets": {"list": [{"id": "eu", "countries": ["de"], "currency": "EUR"}]}},
        {"markets": {"list": [{"id": "EU", "countries": [], "currency": "EUR"}]}},
    ],
)
def test_the_schema_rejects_bad_values(values: dict[str, Any]) -> None:
    with helm.Chart.load(str(CHART)) as chart, pytest.raises(helm.HelmValuesError):
        chart.validate_schema(values)


@pytest.mark.parametrize("values", [{}, NON_DEFAULT], ids=["defaults", "non-default"])
def test_every_manifest_is_valid_kubernetes(values: dict[str, Any]) -> None:
    docs = manifests(values)
    assert docs
    for doc in docs:
        if doc["kind"] in CUSTOM_KINDS:
            continue
        kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def container(docs: list[Manifest], role: str) -> Manifest:
    deployment = find(docs, "Deployment", f"shop-shopwindow-{role}")
    [main] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(main)


def role_environment(docs: list[Manifest], role: str, secrets: dict[str, str]) -> dict[str, str]:
    """The environment a role's container gets, secrets filled in from ``secrets``."""
    main = container(docs, role)
    env: dict[str, str] = {}
    for source in main.get("envFrom", []):
        env |= find(docs, "ConfigMap", source["configMapRef"]["name"])["data"]
    for variable in main.get("env", []):
        if "value" in variable:
            env[variable["name"]] = variable["value"]
        else:
            ref = variable["valueFrom"]["secretKeyRef"]
            env[variable["name"]] = secrets[f"{ref['name']}/{ref['key']}"]
    return env


def settings_from(
    cls: type[BaseSettings], env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> Any:
    for name in [n for n in os.environ if n.startswith("SHOPWINDOW_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    known = {f"SHOPWINDOW_{field.upper()}" for field in cls.model_fields} | {
        f"SHOPWINDOW_TOPICS__{topic.upper()}"
        for topic in [*TopicNames.model_fields, *(t.setting for t in CORE.topics)]
    }
    return cls(), {name for name in env if name not in known}


def test_the_roles_start_from_the_rendered_configuration(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    docs = manifests(NON_DEFAULT)
    secrets = {"mongo-credentials/uri": "mongodb://db/?replicaSet=rs0"}
    gateway_env = role_environment(docs, "gateway", secrets)
    materializer_env = role_environment(docs, "materializer", secrets)
    # Files the gateway reads come from the mounted Secret: same path and key.
    gateway_container = container(docs, "gateway")
    [mount] = [m for m in gateway_container["volumeMounts"] if m["name"] == "jwt"]
    assert gateway_env["SHOPWINDOW_JWT_JWKS_FILE"] == f"{mount['mountPath']}/jwt-jwks.json"
    gateway_env.pop("SHOPWINDOW_JWT_JWKS_FILE")
    [trusted] = [m for m in gateway_container["volumeMounts"] if m["name"] == "trusted-documents"]
    manifest = gateway_env["SHOPWINDOW_PERSISTED_MANIFEST"]
    assert manifest == f"{trusted['mountPath']}/manifest.json"

    # Both roles read the markets file the chart renders, from the mounted ConfigMap.
    markets_file = tmp_path / "markets.json"
    for role, env in (("gateway", gateway_env), ("materializer", materializer_env)):
        [mount] = [m for m in container(docs, role)["volumeMounts"] if m["name"] == "markets"]
        assert env.pop("SHOPWINDOW_MARKETS_FILE") == f"{mount['mountPath']}/markets.json"
        env["SHOPWINDOW_MARKETS_FILE"] = str(markets_file)
    rendered = find(docs, "ConfigMap", "shop-shopwindow-markets")["data"]["markets.json"]
    markets_file.write_text(rendered)

    gateway, unknown_to_gateway = settings_from(GatewaySettings, gateway_env, monkeypatch)
    materializer, unknown_to_materializer = settings_from(
        MaterializerSettings, materializer_env, monkeypatch
    )
    # Every variable the chart sets means something to at least one role.
    assert unknown_to_gateway & unknown_to_materializer == set()
    assert gateway.http_port == gateway_container["ports"][0]["containerPort"] == 8080
    assert (
        gateway.max_tokens == 5000 and gateway.graphiql is True and gateway.jwt_audience == "shop"
    )
    assert gateway.document_cache_mb == 0
    assert gateway.http_cache_max_age_s == 60 and gateway.http_cache_stale_while_revalidate_s == 30
    # The manifest's path was checked above: a file only the pod has.
    assert gateway.persisted_only is True
    assert gateway.response_cache_mb == 7
    assert gateway.search_commit_interval_ms == 500 and gateway.search_max_words == 6
    assert gateway.search_price_ranges == [Decimal(5), Decimal("20.5")]
    assert (
        materializer.materializer_http_port
        == container(docs, "materializer")["ports"][0]["containerPort"]
        == 9200
    )
    assert materializer.materializer_group_id == "shop-materializer"
    assert materializer.trending_half_life_s == 3600
    assert kinds.INVENTORY.name_in(materializer.topics) == "stock.deltas"
    assert materializer.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert gateway.mongodb_uri.get_secret_value() == secrets["mongo-credentials/uri"]
    for role in (gateway, materializer):
        assert role.markets.for_country("NO").id == "eu"
        assert role.markets.price_order(role.markets.for_country("CH")) == ("ch", "eu")


def test_the_topics_job_creates_the_topics_the_roles_will_use(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert not [d for d in manifests({}) if d["kind"] == "Job"]  # Off unless asked for.
    docs = manifests(NON_DEFAULT)
    job = find(docs, "Job", "shop-shopwindow-topics")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    pod = job["spec"]["template"]["spec"]
    # It runs before the release's ConfigMap and ServiceAccount exist.
    assert "serviceAccountName" not in pod and pod["automountServiceAccountToken"] is False
    [main] = pod["containers"]
    assert "envFrom" not in main
    env = {variable["name"]: variable["value"] for variable in main["env"]}
    tool, unknown = settings_from(KafkaToolSettings, env, monkeypatch)
    assert unknown == set()
    assert tool.topic_partitions == 24 and tool.topic_replication_factor == 3
    # The same names the roles read from their ConfigMap.
    env = role_environment(docs, "materializer", {"mongo-credentials/uri": "mongodb://db"})
    env.pop("SHOPWINDOW_MARKETS_FILE")  # a file only the pod has; read in the test above
    materializer, _ = settings_from(MaterializerSettings, env, monkeypatch)
    assert tool.topics == materializer.topics
    args = build_parser().parse_args(main["args"])
    assert args.handler.__name__ == "_create_topics" and args.with_inputs is True


@pytest.mark.parametrize("values", [{}, NON_DEFAULT], ids=["defaults", "non-default"])
@pytest.mark.parametrize("role", ["gateway", "materializer"])
def test_probes_and_ports_agree(values: dict[str, Any], role: str) -> None:
    docs = manifests(values)
    main = container(docs, role)
    assert main["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert main["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert [p["name"] for p in main["ports"]] == ["http"]
    service = find(docs, "Service", f"shop-shopwindow-{role}")
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    deployment = find(docs, "Deployment", f"shop-shopwindow-{role}")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    security = main["securityContext"]
    assert security["readOnlyRootFilesystem"] and not security["allowPrivilegeEscalation"]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"]


def test_defaults_keep_secrets_in_the_charts_secret() -> None:
    docs = manifests({})
    secret = find(docs, "Secret", "shop-shopwindow")
    assert set(secret["data"]) == {"mongodb-uri"}
    env = {e["name"]: e for e in container(docs, "gateway")["env"]}
    assert env["SHOPWINDOW_MONGODB_URI"]["valueFrom"]["secretKeyRef"] == {
        "name": "shop-shopwindow",
        "key": "mongodb-uri",
    }
    assert not any(
        d["kind"] in {"Ingress", "HorizontalPodAutoscaler", "NetworkPolicy", "ServiceMonitor"}
        for d in docs
    )


def test_existing_secrets_replace_the_charts_secret_and_autoscaling_owns_replicas() -> None:
    docs = manifests(NON_DEFAULT)
    assert not [d for d in docs if d["kind"] == "Secret"]
    assert "replicas" not in find(docs, "Deployment", "shop-shopwindow-gateway")["spec"]
    assert (
        find(docs, "HorizontalPodAutoscaler", "shop-shopwindow-gateway")["spec"]["maxReplicas"]
        == 12
    )
    assert find(docs, "Deployment", "shop-shopwindow-materializer")["spec"]["replicas"] == 6
    assert (
        container(docs, "gateway")["image"] == "docker.io/shopwindow/shopwindow@sha256:" + "a" * 64
    )


def test_notes_say_how_to_reach_the_api() -> None:
    assert (
        "port-forward svc/shop-shopwindow-gateway" in render({})["shopwindow/templates/NOTES.txt"]
    )
    assert (
        "https://api.shop.example/graphql" in render(NON_DEFAULT)["shopwindow/templates/NOTES.txt"]
    )
    assert 'Markets: 2 (default "eu")' in render(NON_DEFAULT)["shopwindow/templates/NOTES.txt"]
    assert "Markets" not in render({})["shopwindow/templates/NOTES.txt"]


def test_notes_say_what_the_gateway_bounds_itself_with_the_values_set() -> None:
    limits = {"maxHeaderBytes": 8192, "headerTimeoutMs": 3000, "bodyTimeoutMs": 4000}
    notes = render({"gateway": {"limits": limits}})["shopwindow/templates/NOTES.txt"]
    assert "request heads at most 8192 bytes (431)" in notes
    assert "a head within 3000 ms, and a body within 4000 ms of its head (408)" in notes
    configmap = find(manifests({"gateway": {"limits": limits}}), "ConfigMap", "shop-shopwindow")
    assert configmap["data"]["SHOPWINDOW_MAX_HEADER_BYTES"] == "8192"
    assert configmap["data"]["SHOPWINDOW_HEADER_TIMEOUT_MS"] == "3000"
    assert configmap["data"]["SHOPWINDOW_BODY_TIMEOUT_MS"] == "4000"


def policy_sources(docs: list[Manifest], role: str) -> list[Any]:
    policy = find(docs, "NetworkPolicy", f"shop-shopwindow-{role}")
    return [source for rule in policy["spec"]["ingress"] for source in rule.get("from", [None])]


@pytest.mark.parametrize("role", ["gateway", "materializer"])
def test_an_empty_metrics_selector_opens_no_namespace(role: str) -> None:
    docs = manifests({"networkPolicy": {"enabled": True, "allowExternal": False}})
    sources = policy_sources(docs, role)
    # No rule without "from" (every source) and no empty namespaceSelector (every namespace).
    assert None not in sources
    assert {} not in [s.get("namespaceSelector") for s in sources]
    selected = {
        "networkPolicy": {
            "enabled": True,
            "allowExternal": False,
            "metricsNamespaceSelector": {"matchLabels": {"x": "y"}},
        }
    }
    assert {"namespaceSelector": {"matchLabels": {"x": "y"}}} in policy_sources(
        manifests(selected), role
    )


def test_the_ingress_exposes_only_the_api() -> None:
    ingress = find(manifests(NON_DEFAULT), "Ingress", "shop-shopwindow-gateway")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [("/graphql", "Exact")]


def test_the_ingress_adds_the_storefront_only_when_it_is_served() -> None:
    values = {**NON_DEFAULT, "gateway": {**NON_DEFAULT["gateway"], "storefront": True}}
    ingress = find(manifests(values), "Ingress", "shop-shopwindow-gateway")
    paths = [p for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert [(p["path"], p["pathType"]) for p in paths] == [
        ("/graphql", "Exact"),
        ("/", "Exact"),
        ("/storefront/", "Prefix"),
    ]


def test_the_subgraph_is_configured_and_named_in_the_notes_but_never_routed() -> None:
    values = {**NON_DEFAULT, "gateway": {**NON_DEFAULT["gateway"], "subgraph": True}}
    docs = manifests(values)
    ingress = find(docs, "Ingress", "shop-shopwindow-gateway")
    paths = [p["path"] for rule in ingress["spec"]["rules"] for p in rule["http"]["paths"]]
    assert "/subgraph" not in paths
    assert find(docs, "ConfigMap", "shop-shopwindow")["data"]["SHOPWINDOW_SUBGRAPH"] == "true"
    notes = render(values)["shopwindow/templates/NOTES.txt"]
    assert "http://shop-shopwindow-gateway.retail.svc:80/subgraph" in notes
    assert "/subgraph" not in render(NON_DEFAULT)["shopwindow/templates/NOTES.txt"]


@pytest.mark.parametrize("missing", ["audience", "issuer"])
def test_jwt_requires_an_audience_and_an_issuer(missing: str) -> None:
    jwt = {"mode": "rs256-jwks", "audience": "shop", "issuer": "https://id.example"}
    del jwt[missing]
    with pytest.raises(Exception, match=f"auth.jwt.{missing} is required"):
        render({"auth": {"existingSecret": "jwt-keys", "jwt": jwt}})


def test_the_schema_refuses_short_hs256_secrets() -> None:
    with pytest.raises(Exception, match="hs256Secret"):
        render(
            {
                "auth": {
                    "jwt": {"mode": "hs256", "hs256Secret": "short", "audience": "a", "issuer": "i"}
                }
            }
        )


CONFORMANCE = Path(__file__).resolve().parents[1] / "conformance"


def _monitoring_problems(docs: list[Manifest]) -> tuple[int, str]:
    checked = subprocess.run(
        ["node", "validate_monitoring.mjs"],
        cwd=CONFORMANCE,
        input=json.dumps(docs),
        capture_output=True,
        text=True,
        timeout=60,
    )
    return checked.returncode, checked.stdout + checked.stderr


def test_the_prometheus_operator_objects_are_valid_for_their_crds() -> None:
    # The CRDs' schemas, as @kubernetes-models/prometheus-operator compiles them (npm,
    # pinned in tests/conformance's lock file): what kubernetes-validate cannot check.
    values = {
        **NON_DEFAULT,
        "metrics": {
            "serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}},
            "prometheusRule": {"enabled": True, "labels": {"release": "prometheus"}},
        },
    }
    docs = [d for d in manifests(values) if d["kind"] in CUSTOM_KINDS]
    assert sorted(d["kind"] for d in docs) == ["PrometheusRule", "ServiceMonitor", "ServiceMonitor"]
    code, printed = _monitoring_problems(docs)
    assert code == 0, printed


def test_an_invalid_service_monitor_is_refused_by_its_crds_schema() -> None:
    [monitor, *_] = [d for d in manifests(NON_DEFAULT) if d["kind"] == "ServiceMonitor"]
    monitor["spec"]["endpoints"][0]["interval"] = 30  # A number where a duration goes.
    code, printed = _monitoring_problems([monitor])
    assert code == 1 and "interval must be string" in printed
