"""The compose file and the image definition agree with the code."""

from __future__ import annotations

from pathlib import Path

import yaml

from shopwindow.materializer.sources import CORE
from shopwindow.settings import GatewaySettings, MaterializerSettings
from shopwindow.topics import TopicNames, topic_config

ROOT = Path(__file__).resolve().parents[2]


def test_compose_configures_both_roles_with_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    known = {f"SHOPWINDOW_{name.upper()}" for name in GatewaySettings.model_fields} | {
        f"SHOPWINDOW_{name.upper()}" for name in MaterializerSettings.model_fields
    }
    for role, command in (("gateway", "serve"), ("materializer", "materialize")):
        service = compose["services"][role]
        assert service["command"] == [command]
        assert set(service["environment"]) <= known


def test_compose_creates_every_topic_and_compacts_the_changelog() -> None:
    script = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())["services"]["topics"][
        "command"
    ][0]
    for topic in CORE.all_topics(TopicNames()):
        assert topic in script
    assert "--topic saleproduct.changes --partitions 6 --config cleanup.policy=compact" in script
    # Sized as the topics the dev stack and the tests create.
    for name in (TopicNames().changelog, TopicNames().dead_letter):
        for key, value in topic_config(TopicNames(), name).items():
            assert f"--topic {name} " in script and f"--config {key}={value}" in script


def test_the_image_runs_as_a_non_root_user_with_the_cli_as_entrypoint() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.split("\nFROM ")[-1]
    assert "USER 10001:10001" in final_stage
    assert 'ENTRYPOINT ["shopwindow"]' in final_stage
    assert final_stage.startswith("python:3.11.11-slim-bookworm")
