"""A stopped group member leaves its group, in the group's first generation too.

Tansu numbers a group's first generation 0 and aiokafka leaves only generations above
0 (``stop_group_member`` names the workaround). The broker's own view of the group
decides: after the stop, it lists no member, so the next member's join need not wait
for a session to time out. Against Kafka the same test holds with aiokafka's own leave.
"""

from __future__ import annotations

import uuid

from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from shopwindow.devstack import DevStack
from shopwindow.kafka_admin import create_topics
from shopwindow.kafka_clients import KafkaConnection, stop_group_member
from shopwindow.kafka_start import start_kafka_client
from shopwindow.topics import TopicNames
from tests.helpers import eventually


async def members(admin: AIOKafkaAdminClient, group: str) -> int:
    [described] = await admin.describe_consumer_groups([group])
    groups = described.to_object()["groups"]
    return sum(len(found["members"]) for found in groups if found["group"] == group)


async def test_a_stopped_member_of_a_first_generation_leaves_its_group(stack: DevStack) -> None:
    topic = f"leave-{uuid.uuid4().hex[:8]}"
    group = f"group-{uuid.uuid4().hex[:8]}"
    await create_topics(stack.kafka_bootstrap_servers, TopicNames(), 1, [topic])
    connection = KafkaConnection(stack.kafka_bootstrap_servers)
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.kafka_bootstrap_servers)
    await start_kafka_client(admin)
    try:
        member = connection.consumer(
            topic, client_id="leave-test", group_id=group, enable_auto_commit=False
        )
        await start_kafka_client(member)
        try:
            await eventually(lambda: _assigned(member), lambda assigned: assigned)
            assert await members(admin, group) == 1
        finally:
            await stop_group_member(member)
        assert await members(admin, group) == 0
    finally:
        await admin.close()


async def _assigned(member: AIOKafkaConsumer) -> bool:
    return bool(member.assignment())
