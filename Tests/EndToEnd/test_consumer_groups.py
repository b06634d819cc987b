"""Consumer groups with real clients against apus broker: confluent-kafka (librdkafka 2.16)
groups whose members join and leave mid-stream, the cooperative-sticky assignor, commits that
survive a broker restart, kafka-python 3.x and Debian's 2.0.2 group consumers, and kcat -G.

Every broker here runs with group.initial.rebalance.delay.ms=0 so the first rebalance does not
wait the default 3 s for more members.
"""
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from .confluent_clients import producer_for
from .support import kcat, unique_topic, wait_until

GROUP_SETTINGS = {"group.initial.rebalance.delay.ms": 0}
GROUP_SCRIPT = Path(__file__).parent / "clients" / "kafka_python_group.py"
TIMEOUT_S = 60


@pytest.fixture
def group_broker(broker_factory):
    return broker_factory(**GROUP_SETTINGS)


def create_topic(broker, topic, partitions):
    admin = AdminClient({"bootstrap.servers": broker.bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)


def produce_values(broker, topic, values, partitions):
    """Produces the values round-robin over the partitions."""
    producer = producer_for(broker)
    for index, value in enumerate(values):
        producer.produce(topic, value=value.encode(), partition=index % partitions)
        if index % 1000 == 0:
            producer.poll(0)
    assert producer.flush(30) == 0


class GroupMember(threading.Thread):
    """A confluent-kafka consumer in its own thread: it processes a message (records it), then
    commits that message's offset synchronously before polling on.

    As Kafka clients must, it treats a commit refused because a rebalance moved the group on
    (ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS) as "commit later": the offset stays pending,
    goes out with the next commit, and is committed before its partition is revoked."""

    def __init__(self, name, broker, group, topic, ledger, **config):
        super().__init__(name=name, daemon=True)
        self.consumer = Consumer({
            "bootstrap.servers": broker.bootstrap, "group.id": group, "client.id": name,
            "auto.offset.reset": "earliest", "enable.auto.commit": False,
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, **config})
        self.topic = topic
        self.ledger = ledger
        self.stopping = threading.Event()
        self.assignments = []  # ("assign"|"revoke", [partitions]) in order
        self.error = None
        self.pending = {}  # partition -> next offset to commit

    def commit_pending(self, partitions=None):
        offsets = [TopicPartition(self.topic, p, o) for p, o in sorted(self.pending.items())
                   if partitions is None or p in partitions]
        if not offsets:
            return
        try:
            self.consumer.commit(offsets=offsets, asynchronous=False)
        except KafkaException as error:
            if error.args[0].code() not in (KafkaError.ILLEGAL_GENERATION, KafkaError.REBALANCE_IN_PROGRESS):
                raise
            return
        for offset in offsets:
            if self.pending.get(offset.partition) == offset.offset:
                del self.pending[offset.partition]

    def revoked(self, partitions):
        self.assignments.append(("revoke", sorted(p.partition for p in partitions)))
        self.commit_pending({p.partition for p in partitions})
        for p in partitions:
            self.pending.pop(p.partition, None)

    def run(self):
        try:
            self.consumer.subscribe(
                [self.topic],
                on_assign=lambda _, partitions: self.assignments.append(("assign", sorted(p.partition for p in partitions))),
                on_revoke=lambda _, partitions: self.revoked(partitions))
            while not self.stopping.is_set():
                message = self.consumer.poll(0.2)
                if message is None:
                    continue
                if message.error():
                    assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                    continue
                self.ledger.record(self.name, message)
                time.sleep(0.002)  # "processing"
                self.pending[message.partition()] = message.offset() + 1
                self.commit_pending()
        except Exception as error:  # reported by the test
            self.error = error
        finally:
            self.assignments.append(("closing", []))
            self.consumer.close()  # leaves the group (and revokes everything)

    def stop(self):
        self.stopping.set()
        self.join(TIMEOUT_S)
        assert not self.is_alive(), f"{self.name} did not stop"
        assert self.error is None, f"{self.name}: {self.error!r}"


class Ledger:
    def __init__(self):
        self.lock = threading.Lock()
        self.seen = []  # (member, partition, offset, value)

    def record(self, member, message):
        with self.lock:
            self.seen.append((member, message.partition(), message.offset(), message.value().decode()))

    def count(self):
        with self.lock:
            return len(self.seen)

    def values(self):
        with self.lock:
            return [value for _, _, _, value in self.seen]


def wait_for_count(ledger, count, timeout=TIMEOUT_S):
    wait_until(lambda: ledger.count() >= count, timeout, message=f"{count} messages consumed (have {ledger.count()})")


def assert_each_once(ledger, values):
    seen = ledger.values()
    duplicates = {value for value in seen if seen.count(value) > 1} if len(seen) != len(set(seen)) else set()
    assert not duplicates, f"{len(duplicates)} messages consumed twice, e.g. {sorted(duplicates)[:5]}"
    missing = set(values) - set(seen)
    assert not missing, f"{len(missing)} messages never consumed, e.g. {sorted(missing)[:5]}"


def owned(member):
    """The partitions a member owns, from its assign and revoke callbacks so far."""
    partitions = set()
    for kind, changed in list(member.assignments):
        if kind == "closing":
            break
        partitions = partitions | set(changed) if kind == "assign" else partitions - set(changed)
    return partitions


def run_group(broker, strategy, total=2400):
    topic, group = unique_topic("groups"), unique_topic("group")
    create_topic(broker, topic, 6)
    values = [f"m{index:05d}" for index in range(total)]
    produce_values(broker, topic, values, 6)
    ledger = Ledger()
    config = {"partition.assignment.strategy": strategy}
    members = [GroupMember(f"member-{letter}", broker, group, topic, ledger, **config) for letter in "abc"]
    members[0].start()
    wait_for_count(ledger, total // 8)
    members[1].start()
    wait_for_count(ledger, total // 3)
    members[2].start()
    wait_for_count(ledger, total // 2)
    members[0].stop()  # leaves mid-stream
    wait_for_count(ledger, total)
    # The group settles: the two remaining members own all six partitions (a cooperative
    # rebalance takes two rounds, which may end after the last message was consumed).
    wait_until(lambda: owned(members[1]) | owned(members[2]) == set(range(6)), timeout=30,
               message="the remaining members own every partition")
    for member in members[1:]:
        member.settled = owned(member)  # before any of them leaves and the rest take over
    time.sleep(1)  # anything consumed twice would show up now
    for member in members[1:]:
        member.stop()
    assert_each_once(ledger, values)
    consumers = {member for member, _, _, _ in ledger.seen}
    assert consumers == {"member-a", "member-b", "member-c"}, f"messages came through {consumers}"
    return members


def test_confluent_group_members_join_and_leave_and_every_message_is_consumed_once(group_broker):
    members = run_group(group_broker, "range")
    # Eager (range) rebalances revoke everything and assign afresh.
    assert ("revoke", [0, 1, 2, 3, 4, 5]) in members[0].assignments


def test_confluent_cooperative_sticky_rebalances_incrementally(group_broker):
    members = run_group(group_broker, "cooperative-sticky")
    first = members[0].assignments
    assert first[0] == ("assign", [0, 1, 2, 3, 4, 5]), first
    # When b joined, a gave up only some partitions and kept the rest (KIP-429).
    revoked = next(partitions for kind, partitions in first if kind == "revoke")
    assert 0 < len(revoked) < 6, first
    # b and c end up with all six partitions between them, three each.
    final = [member.settled for member in members[1:]]
    assert final[0] | final[1] == set(range(6)) and len(final[0]) == len(final[1]) == 3, \
        json.dumps({"b": members[1].assignments, "c": members[2].assignments})


def committed_offsets(broker, group, topic, partitions):
    consumer = Consumer({"bootstrap.servers": broker.bootstrap, "group.id": group})
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=30)]
    finally:
        consumer.close()


def member_that_consumed(broker, prefix, count):
    """A new topic of two partitions holding `count` values, and a member of a new group that
    has consumed (and committed) them all: (topic, group, ledger, member)."""
    topic, group = unique_topic(prefix), unique_topic("group")
    create_topic(broker, topic, 2)
    produce_values(broker, topic, [f"v{index}" for index in range(count)], 2)
    ledger = Ledger()
    member = GroupMember("member-a", broker, group, topic, ledger)
    member.start()
    wait_for_count(ledger, count)
    return topic, group, ledger, member


def test_commits_survive_a_broker_restart(group_broker):
    topic, group, _, member = member_that_consumed(group_broker, "restart", 100)
    member.stop()
    assert committed_offsets(group_broker, group, topic, 2) == [50, 50]
    group_broker.restart()
    assert committed_offsets(group_broker, group, topic, 2) == [50, 50]
    produce_values(group_broker, topic, [f"w{index}" for index in range(20)], 2)
    later = Ledger()
    member = GroupMember("member-b", group_broker, group, topic, later)
    member.start()
    wait_for_count(later, 20)
    time.sleep(0.5)
    member.stop()
    assert sorted(later.values()) == sorted(f"w{index}" for index in range(20))


def test_a_member_keeps_its_partitions_across_a_broker_restart(group_broker):
    """The group is read back with its members, as Kafka loads it: a consumer that heartbeats
    again after a clean broker restart keeps its generation and partitions, with no rebalance,
    and goes on consuming and committing."""
    topic, group, ledger, member = member_that_consumed(group_broker, "keep", 50)
    group_broker.restart()
    time.sleep(2)  # several heartbeat intervals: the member finds the coordinator again
    produce_values(group_broker, topic, [f"w{index}" for index in range(50)], 2)
    wait_for_count(ledger, 100)
    wait_until(lambda: committed_offsets(group_broker, group, topic, 2) == [50, 50], timeout=30,
               message="the records after the restart committed")
    assert member.assignments == [("assign", [0, 1])], member.assignments
    member.stop()
    assert sorted(ledger.values()) == sorted([f"v{i}" for i in range(50)] + [f"w{i}" for i in range(50)])


@pytest.mark.parametrize("interpreter,flags,version", [
    (sys.executable, [], "3"), ("/usr/bin/python3", ["-I"], "2.0")], ids=["kafka-python-3", "kafka-python-2.0.2"])
def test_kafka_python_group_consumer_commits_and_resumes(group_broker, interpreter, flags, version):
    topic, group = unique_topic("kp-group"), unique_topic("group")
    create_topic(group_broker, topic, 3)

    def run(count):
        request = {"bootstrap": group_broker.bootstrap, "topic": topic, "group": group, "count": count, "timeout_s": 40}
        result = subprocess.run([interpreter, *flags, str(GROUP_SCRIPT)], input=json.dumps(request).encode(),
                                capture_output=True, timeout=TIMEOUT_S)
        assert result.returncode == 0, result.stderr.decode()[-4000:]
        output = json.loads(result.stdout)
        assert output["kafka_python"].startswith(version)
        return sorted(value for _, _, value in output["consumed"])

    produce_values(group_broker, topic, [f"a{index:03d}" for index in range(90)], 3)
    assert run(90) == [f"a{index:03d}" for index in range(90)]
    produce_values(group_broker, topic, [f"b{index:03d}" for index in range(30)], 3)
    assert run(30) == [f"b{index:03d}" for index in range(30)]  # resumed at the commits
    assert committed_offsets(group_broker, group, topic, 3) == [40, 40, 40]


def test_kcat_balanced_consumer_commits_its_position(group_broker):
    topic, group = unique_topic("kcat-group"), unique_topic("group")
    create_topic(group_broker, topic, 6)
    produce_values(group_broker, topic, [f"k{index:03d}" for index in range(120)], 6)
    common = ["-b", group_broker.bootstrap, "-X", "auto.offset.reset=earliest", "-X", "heartbeat.interval.ms=500",
              "-f", "%s\\n", "-G", group, topic]
    first = kcat("-c", "120", *common, timeout=TIMEOUT_S).stdout.decode().split()
    assert sorted(first) == [f"k{index:03d}" for index in range(120)]
    assert committed_offsets(group_broker, group, topic, 6) == [20] * 6
    produce_values(group_broker, topic, [f"n{index:03d}" for index in range(12)], 6)
    second = kcat("-c", "12", *common, timeout=TIMEOUT_S).stdout.decode().split()
    assert sorted(second) == [f"n{index:03d}" for index in range(12)]
