"""TLS, SASL (SCRAM-SHA-256, SCRAM-SHA-512, PLAIN) and ACLs against unchanged real clients:
kcat 1.7.1 (librdkafka 2.0.2), confluent-kafka (librdkafka 2.16), kafka-python 3.x and Debian's
kafka-python 2.0.2, and the `apus` CLI.

The certificates are made once per session with the `openssl` CLI: a CA, a server certificate for
IP:127.0.0.1 and DNS:localhost, client certificates CN=alice and CN=admin signed by the CA, and a
CN=alice certificate signed by a second, untrusted CA. Users are created with
`apus users add --data-dir` next to a running broker (it rereads the credentials file), or online
through AlterUserScramCredentials. `User:admin` is the super user that creates topics and ACLs.
"""
import json
import socket
import ssl
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from confluent_kafka import (Consumer, ConsumerGroupTopicPartitions, KafkaError, KafkaException, Producer,
                             TopicCollection, TopicPartition)
from confluent_kafka.admin import (AclBinding, AclBindingFilter, AclOperation, AclPermissionType,
                                   AdminClient, ConfigResource, NewTopic, ResourcePatternType, ResourceType)

from .support import drain, kcat, read_frame, request_frame, unique_topic, wait_until

TIMEOUT_S = 30
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
ADMIN_PASSWORD = "admin-pw-7c1e"
ALICE_PASSWORD = "alice-pw-3b9d"
SYSTEM_PYTHON = "/usr/bin/python3"

OPENSSL_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
"""


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    """PEM files made with the openssl CLI (EC P-256, valid 3 days)."""
    directory = tmp_path_factory.mktemp("certs")
    (directory / "openssl.cnf").write_text(OPENSSL_CONFIG)

    def openssl(*args):
        result = subprocess.run(["openssl", *args], cwd=directory, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, f"openssl {' '.join(args)}: {result.stderr}"

    def key(name):
        openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f"{name}.key")

    def authority(name, subject):
        key(name)
        openssl("req", "-config", "openssl.cnf", "-x509", "-new", "-key", f"{name}.key", "-subj", subject,
                "-days", "3", "-extensions", "ca", "-out", f"{name}.pem")

    def leaf(name, subject, extensions, ca="ca"):
        key(name)
        openssl("req", "-config", "openssl.cnf", "-new", "-key", f"{name}.key", "-subj", subject, "-out", f"{name}.csr")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key", "-CAcreateserial",
                "-days", "3", "-extfile", "openssl.cnf", "-extensions", extensions, "-out", f"{name}.pem")

    authority("ca", "/O=Apus Test/CN=Apus Test CA")
    leaf("server", "/O=Apus/CN=localhost", "server")
    leaf("alice", "/O=Apus/CN=alice", "client")
    leaf("admin", "/O=Apus/CN=admin", "client")
    authority("rogue-ca", "/O=Rogue/CN=Rogue CA")
    leaf("mallory", "/O=Apus/CN=alice", "client", ca="rogue-ca")
    # Kafka's PEM keystore: the certificate chain and the unencrypted private key in one file.
    keystore = directory / "server.keystore.pem"
    keystore.write_text((directory / "server.pem").read_text() + (directory / "server.key").read_text())
    path = lambda name: str(directory / name)  # noqa: E731
    return SimpleNamespace(
        ca=path("ca.pem"), keystore=str(keystore),
        alice=(path("alice.pem"), path("alice.key")), admin=(path("admin.pem"), path("admin.key")),
        mallory=(path("mallory.pem"), path("mallory.key")))


# ---- brokers, users and client settings --------------------------------------------------

def secure_broker(broker_factory, certs, listener_names=("SASL_SSL",), **settings):
    """A broker with the given loopback listeners, the server certificate, ACLs on and
    User:admin as super user."""
    return broker_factory(listener_names=listener_names, **{
        "ssl.keystore.location": certs.keystore, "authorizer.class.name": AUTHORIZER,
        "super.users": "User:admin", **settings})


def apus(apus_binary, *args, input=None, check=True):
    result = subprocess.run([str(apus_binary), *map(str, args)], input=input, capture_output=True, text=True,
                            timeout=TIMEOUT_S, env={"PATH": "/usr/bin:/bin"})
    if check:
        assert result.returncode == 0, f"apus {' '.join(map(str, args))} exited {result.returncode}: {result.stderr}"
    return result


def add_user(apus_binary, broker, user, password, *mechanisms):
    """Writes the user's SCRAM credentials into the running broker's data directory."""
    args = ["users", "add", user, "--password", password, "--data-dir", broker.data_dir]
    for mechanism in mechanisms:
        args += ["--mechanism", mechanism]
    apus(apus_binary, *args)


def sasl_settings(broker, certs, user, password, mechanism="SCRAM-SHA-256", listener="SASL_SSL"):
    """librdkafka properties of a SASL client (kcat -X, confluent-kafka, `apus -X`)."""
    settings = {"bootstrap.servers": broker.address(listener), "security.protocol": listener,
                "sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password}
    if listener == "SASL_SSL":
        settings["ssl.ca.location"] = certs.ca
    return settings


def tls_settings(broker, certs, identity=None, listener="SSL"):
    settings = {"bootstrap.servers": broker.address(listener), "security.protocol": "SSL", "ssl.ca.location": certs.ca}
    if identity:
        settings["ssl.certificate.location"], settings["ssl.key.location"] = identity
    return settings


def kcat_args(settings):
    args = ["-b", settings["bootstrap.servers"]]
    for key, value in settings.items():
        if key != "bootstrap.servers":
            args += ["-X", f"{key}={value}"]
    return args


def admin_client(settings):
    return AdminClient({**settings, "socket.timeout.ms": 10_000})


def resolve(futures):
    return {key: future.result(timeout=TIMEOUT_S) for key, future in futures.items()}


def create_topic(admin, topic, partitions=1):
    resolve(admin.create_topics([NewTopic(topic, partitions, 1)], operation_timeout=TIMEOUT_S))


def allow(principal, resource_type, name, *operations, pattern=ResourcePatternType.LITERAL):
    return [AclBinding(resource_type, name, pattern, principal, "*", operation, AclPermissionType.ALLOW)
            for operation in operations]


def grant(admin, *binding_lists):
    bindings = [binding for bindings in binding_lists for binding in bindings]
    resolve(admin.create_acls(bindings))


def produce(settings, topic, messages, **extra):
    """Produces (key, value) pairs to partition 0; returns the delivery errors (None = delivered)."""
    errors = [None] * len(messages)
    delivered = [False] * len(messages)

    def report(index):
        def on_delivery(error, _message):
            errors[index], delivered[index] = error, True
        return on_delivery

    producer = Producer({**settings, "linger.ms": 5, "message.timeout.ms": 15_000, **extra})
    for index, (key, value) in enumerate(messages):
        producer.produce(topic, key=key, value=value, partition=0, on_delivery=report(index))
    assert producer.flush(TIMEOUT_S) == 0, "messages still undelivered"
    assert all(delivered)
    return errors


def messages(count, tag):
    return [(f"{tag}-key-{i}".encode(), f"{tag}-value-{i}-é".encode()) for i in range(count)]


def read_back(settings, topic, count, group="apus-e2e-unused"):
    """Every message of partition 0 by assignment, as (key, value) pairs."""
    consumer = Consumer({**settings, "group.id": group, "enable.auto.commit": False, "enable.partition.eof": True})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        received, deadline = [], time.monotonic() + TIMEOUT_S
        while True:
            assert time.monotonic() < deadline, f"read {len(received)} of {count} messages"
            message = consumer.poll(0.5)
            if message is None:
                continue
            if message.error():
                assert message.error().code() == KafkaError._PARTITION_EOF, message.error()
                if len(received) >= count:
                    return received
                continue
            received.append((message.key(), message.value()))
    finally:
        consumer.close()


def client_errors(config, seconds=TIMEOUT_S, wanted=None):
    """Errors librdkafka reports through error_cb while a producer tries to reach the broker."""
    errors = []
    producer = Producer({**config, "error_cb": errors.append})
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not any(wanted is None or e.code() in wanted for e in errors):
        producer.poll(0.2)
    return errors


# ---- 1. a permitted user produces and consumes over SASL_SSL ------------------------------

def test_kcat_scram_sha_256_over_sasl_ssl_produces_and_consumes_exactly(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    add_user(apus_binary, broker, "alice", ALICE_PASSWORD, "SCRAM-SHA-256")
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "SCRAM-SHA-512"))
    topic, hidden = unique_topic("sec-kcat"), unique_topic("sec-hidden")
    create_topic(admin, topic)
    create_topic(admin, hidden)
    grant(admin, allow("User:alice", ResourceType.TOPIC, topic, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.READ))
    alice = kcat_args(sasl_settings(broker, certs, "alice", ALICE_PASSWORD, "SCRAM-SHA-256"))

    lines = [f"k{i}:value {i} über TLS".encode() for i in range(300)]
    result = kcat("-P", *alice, "-t", topic, "-p", "0", "-K", ":", input=b"\n".join(lines) + b"\n", timeout=60)
    assert b"Delivery failed" not in result.stderr and b"ERROR" not in result.stderr, result.stderr.decode()
    consumed = kcat("-C", *alice, "-t", topic, "-p", "0", "-o", "beginning", "-e", "-f", "%k:%s\n", timeout=60)
    assert consumed.stdout.splitlines() == lines

    # Metadata lists only what alice may Describe.
    listed = json.loads(kcat("-L", "-J", *alice, "-m", "10").stdout)
    assert {t["topic"] for t in listed["topics"]} == {topic}
    assert listed["brokers"] == [{"id": 0, "name": broker.address("SASL_SSL")}]


def test_confluent_kafka_scram_sha_512_produces_and_consumes_with_a_group(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    add_user(apus_binary, broker, "alice", ALICE_PASSWORD, "SCRAM-SHA-512")
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "SCRAM-SHA-512"))
    topic, group = unique_topic("sec-ck"), unique_topic("sec-group")
    create_topic(admin, topic)
    grant(admin,
          allow("User:alice", ResourceType.TOPIC, topic, AclOperation.WRITE, AclOperation.DESCRIBE, AclOperation.READ),
          allow("User:alice", ResourceType.GROUP, group, AclOperation.READ))
    alice = sasl_settings(broker, certs, "alice", ALICE_PASSWORD, "SCRAM-SHA-512")

    sent = messages(500, "ck512")
    assert produce(alice, topic, sent, **{"enable.idempotence": True}) == [None] * len(sent)

    consumer = Consumer({**alice, "group.id": group, "auto.offset.reset": "earliest", "enable.auto.commit": False})
    try:
        consumer.subscribe([topic])
        received, deadline = [], time.monotonic() + TIMEOUT_S
        while len(received) < len(sent):
            assert time.monotonic() < deadline, f"consumed {len(received)} of {len(sent)}"
            message = consumer.poll(0.5)
            if message is None:
                continue
            assert message.error() is None, message.error()
            received.append((message.key(), message.value()))
        assert received == sent
        committed = consumer.commit(asynchronous=False)
        assert [(tp.topic, tp.partition, tp.offset, tp.error) for tp in committed] == [(topic, 0, len(sent), None)]
    finally:
        consumer.close()
    offsets = resolve(admin.list_consumer_group_offsets([_group_request(group, topic)]))
    assert [tp.offset for tp in offsets[group].topic_partitions] == [len(sent)]


def _group_request(group, topic):
    return ConsumerGroupTopicPartitions(group, [TopicPartition(topic, 0)])


def test_plain_mechanism_is_checked_against_the_scram_credential(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs, ("SASL_SSL", "SASL_PLAINTEXT"),
                           **{"sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256"})
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "PLAIN"))
    topic = unique_topic("sec-plain")
    create_topic(admin, topic)
    sent = messages(50, "plain")
    for listener in ("SASL_SSL", "SASL_PLAINTEXT"):
        assert produce(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "PLAIN", listener), topic, sent) == [None] * 50
    assert read_back(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "SCRAM-SHA-256"), topic, 100) == sent + sent
    consumed = kcat("-C", *kcat_args(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "PLAIN")), "-t", topic,
                    "-p", "0", "-o", "beginning", "-e", "-f", "%k:%s\n", timeout=60)
    assert consumed.stdout.splitlines() == [key + b":" + value for key, value in sent + sent]
    # A mechanism not in sasl.enabled.mechanisms is refused.
    errors = client_errors(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "SCRAM-SHA-512"), seconds=10,
                           wanted={KafkaError._AUTHENTICATION})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors


@pytest.mark.parametrize("client", ["venv", "debian-2.0.2"])
def test_kafka_python_scram_over_sasl_ssl(apus_binary, broker_factory, certs, client):
    interpreter = sys.executable if client == "venv" else SYSTEM_PYTHON
    if client != "venv" and subprocess.run([interpreter, "-I", "-c", "import kafka"], capture_output=True).returncode:
        pytest.fail(f"{SYSTEM_PYTHON} cannot import kafka: install Debian's python3-kafka (tools/setup does)")
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD))
    topic = unique_topic("sec-kp")
    create_topic(admin, topic)
    script = """
import json, sys
import kafka
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
r = json.load(sys.stdin)
common = dict(bootstrap_servers=r["bootstrap"], security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256",
              sasl_plain_username="admin", sasl_plain_password=r["password"], ssl_cafile=r["ca"],
              request_timeout_ms=20000)
extra = {"enable_idempotence": False} if int(kafka.__version__.split(".")[0]) >= 3 else {}
producer = KafkaProducer(linger_ms=5, **common, **extra)
offsets = [producer.send(r["topic"], partition=0, value=("m%d" % i).encode()).get(timeout=20).offset for i in range(20)]
producer.close(timeout=10)
consumer = KafkaConsumer(**common)
consumer.assign([TopicPartition(r["topic"], 0)])
consumer.seek_to_beginning()
values = []
while len(values) < 20:
    for batch in consumer.poll(timeout_ms=500).values():
        values += [m.value.decode() for m in batch]
consumer.close()
print(json.dumps({"offsets": offsets, "values": values}))
"""
    request = {"bootstrap": broker.address("SASL_SSL"), "password": ADMIN_PASSWORD, "ca": certs.ca, "topic": topic}
    result = subprocess.run([interpreter, "-c", script], input=json.dumps(request), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr[-3000:]
    output = json.loads(result.stdout)
    assert output == {"offsets": list(range(20)), "values": [f"m{i}" for i in range(20)]}


# ---- 2. a wrong password is refused, and never logged --------------------------------------

def test_wrong_password_is_refused_and_not_logged(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs, **{"sasl.enabled.mechanisms": "SCRAM-SHA-256,SCRAM-SHA-512,PLAIN"})
    add_user(apus_binary, broker, "alice", ALICE_PASSWORD)
    wrong = "Wr0ng-pa55word-xyzzy"

    result = kcat("-L", *kcat_args(sasl_settings(broker, certs, "alice", wrong, "SCRAM-SHA-256")), "-m", "5",
                  check=False, timeout=30)
    assert result.returncode != 0
    assert b"Authentication failed" in result.stderr, result.stderr.decode()

    for mechanism in ("SCRAM-SHA-512", "PLAIN"):  # PLAIN sends the password itself to the broker
        errors = client_errors(sasl_settings(broker, certs, "alice", wrong, mechanism), wanted={KafkaError._AUTHENTICATION})
        assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), (mechanism, errors)
    # An unknown user is refused the same way.
    errors = client_errors(sasl_settings(broker, certs, "nobody", wrong), wanted={KafkaError._AUTHENTICATION})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors

    log = wait_until(lambda: (text := broker.log_text()).count("SASL authentication failed") >= 4 and text,
                     timeout=10, message="four 'SASL authentication failed' log lines")
    assert "user=alice" in log and "mechanism=PLAIN" in log, log[-3000:]
    assert wrong not in log and ALICE_PASSWORD not in log
    # The right password still works.
    metadata = admin_client(sasl_settings(broker, certs, "alice", ALICE_PASSWORD)).list_topics(timeout=TIMEOUT_S)
    assert list(metadata.brokers) == [0]


# ---- 3./4. ACL denials -------------------------------------------------------------------

def test_user_without_write_cannot_produce(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    add_user(apus_binary, broker, "bob", "bob-pw")
    admin_settings = sasl_settings(broker, certs, "admin", ADMIN_PASSWORD)
    admin = admin_client(admin_settings)
    topic = unique_topic("sec-nowrite")
    create_topic(admin, topic)
    grant(admin, allow("User:bob", ResourceType.TOPIC, topic, AclOperation.READ, AclOperation.DESCRIBE))
    bob = sasl_settings(broker, certs, "bob", "bob-pw")

    errors = produce(bob, topic, messages(5, "denied"), **{"enable.idempotence": False})
    assert {e.code() if e else None for e in errors} == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, errors

    # Nothing was written; the same messages from a permitted principal go through.
    consumer = Consumer({**admin_settings, "group.id": "unused"})
    try:
        assert consumer.get_watermark_offsets(TopicPartition(topic, 0), timeout=TIMEOUT_S) == (0, 0)
    finally:
        consumer.close()
    assert produce(admin_settings, topic, messages(5, "ok")) == [None] * 5


def test_user_without_read_on_the_group_cannot_commit_or_join(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    add_user(apus_binary, broker, "carol", "carol-pw")
    admin_settings = sasl_settings(broker, certs, "admin", ADMIN_PASSWORD)
    admin = admin_client(admin_settings)
    topic, group, other_group = unique_topic("sec-group"), unique_topic("g-describe-only"), unique_topic("g-none")
    create_topic(admin, topic)
    produce(admin_settings, topic, messages(10, "g"))
    # Read on the topic; only Describe on the group (FindCoordinator works, OffsetCommit must not).
    grant(admin, allow("User:carol", ResourceType.TOPIC, topic, AclOperation.READ),
          allow("User:carol", ResourceType.GROUP, group, AclOperation.DESCRIBE))
    carol = sasl_settings(broker, certs, "carol", "carol-pw")

    consumer = Consumer({**carol, "group.id": group, "enable.auto.commit": False})
    try:
        consumer.assign([TopicPartition(topic, 0, 0)])
        message = wait_until(lambda: consumer.poll(0.5), timeout=TIMEOUT_S, interval=0, message="a message")
        assert message.error() is None and message.offset() == 0, message.error()
        with pytest.raises(KafkaException) as raised:
            consumer.commit(offsets=[TopicPartition(topic, 0, 5)], asynchronous=False)
        assert raised.value.args[0].code() == KafkaError.GROUP_AUTHORIZATION_FAILED, raised.value
    finally:
        consumer.close()
    committed = resolve(admin.list_consumer_group_offsets([_group_request(group, topic)]))
    assert [tp.offset for tp in committed[group].topic_partitions] == [-1001], "an offset was committed"

    # No ACL at all on the group: joining it fails.
    consumer = Consumer({**carol, "group.id": other_group, "auto.offset.reset": "earliest"})
    try:
        consumer.subscribe([topic])

        def group_error():
            message = consumer.poll(0.5)
            return message is not None and message.error() is not None and message.error()

        error = wait_until(group_error, timeout=TIMEOUT_S, interval=0, message="a consumer error")
        assert error.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, error
    finally:
        consumer.close()


# ---- 5. plaintext clients cannot reach TLS or SASL listeners ------------------------------

def test_plaintext_clients_cannot_reach_tls_or_sasl_listeners(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs, ("SSL", "SASL_SSL", "SASL_PLAINTEXT"),
                           **{"authorizer.class.name": ""})
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    for listener in ("SSL", "SASL_SSL"):
        result = kcat("-L", "-b", broker.address(listener), "-X", "security.protocol=plaintext", "-m", "2",
                      check=False, timeout=30)
        assert result.returncode != 0, f"kcat -L in plaintext on the {listener} listener: {result.stdout!r}"

    # A raw ApiVersions request gets no Kafka response on a TLS port: at most a TLS alert.
    api_versions = request_frame(18, 0, 7)
    for listener in ("SSL", "SASL_SSL"):
        with socket.create_connection(("127.0.0.1", broker.ports[listener]), timeout=5) as sock:
            sock.sendall(api_versions)
            received, closed = drain(sock, timeout=10)
        assert closed, f"{listener}: connection left open"
        assert received[:1] in (b"", b"\x15"), f"{listener}: answered a plaintext request with {received[:16]!r}"

    # On SASL_PLAINTEXT, ApiVersions is answered but Metadata before authenticating closes the connection.
    with socket.create_connection(("127.0.0.1", broker.ports["SASL_PLAINTEXT"]), timeout=5) as sock:
        sock.sendall(api_versions + request_frame(3, 1, 8, body=b"\xff\xff\xff\xff"))
        received, closed = drain(sock, timeout=10)
    assert closed, "SASL_PLAINTEXT served Metadata before authentication"
    assert received[4:8] == (7).to_bytes(4, "big"), f"no ApiVersions response: {received[:16]!r}"
    assert len(received) == 4 + int.from_bytes(received[:4], "big"), "a Metadata response came back"

    # TLS clients are still served afterwards.
    assert broker.is_running()
    listed = json.loads(kcat("-L", "-J", *kcat_args(tls_settings(broker, certs)), "-m", "10").stdout)
    assert listed["brokers"] == [{"id": 0, "name": broker.address("SSL")}]
    metadata = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD)).list_topics(timeout=TIMEOUT_S)
    assert [(b.host, b.port) for b in metadata.brokers.values()] == [("127.0.0.1", broker.ports["SASL_SSL"])]
    # Python's ssl module checks the server certificate for 127.0.0.1 against the CA.
    context = ssl.create_default_context(cafile=certs.ca)
    with socket.create_connection(("127.0.0.1", broker.ports["SSL"]), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            tls.sendall(api_versions)
            body = read_frame(tls)
            assert body is not None and body[:6] == (7).to_bytes(4, "big") + b"\x00\x00", body and body[:16]


# ---- 6. mutual TLS -----------------------------------------------------------------------

def certificate_broker(broker_factory, certs, client_auth, topic_prefix):
    """An SSL-only broker asking for client certificates (`client_auth`), whose CN names the
    user; returns it, the admin's TLS settings and client, and a topic the admin created
    (which works only because CN=admin became User:admin, the super user)."""
    broker = secure_broker(broker_factory, certs, ("SSL",), **{
        "ssl.client.auth": client_auth, "ssl.truststore.location": certs.ca,
        "ssl.principal.mapping.rules": "RULE:^CN=([^,]+),O=Apus$/$1/,DEFAULT"})
    admin_settings = tls_settings(broker, certs, certs.admin)
    admin = admin_client(admin_settings)
    topic = unique_topic(topic_prefix)
    create_topic(admin, topic)
    return broker, admin_settings, admin, topic


def test_mutual_tls_maps_the_certificate_to_the_principal(apus_binary, broker_factory, certs):
    broker, admin_settings, admin, topic = certificate_broker(broker_factory, certs, "required", "sec-mtls")
    alice = tls_settings(broker, certs, certs.alice)

    errors = produce(alice, topic, messages(3, "before"), **{"enable.idempotence": False})
    assert {e.code() if e else None for e in errors} == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, errors
    grant(admin, allow("User:alice", ResourceType.TOPIC, topic, AclOperation.WRITE))
    sent = messages(100, "mtls")
    assert produce(alice, topic, sent, **{"enable.idempotence": False}) == [None] * 100
    assert read_back(admin_settings, topic, 100) == sent

    # No certificate, or one from a CA the broker does not trust: no connection at all.
    for identity in (None, certs.mallory):
        settings = tls_settings(broker, certs, identity)
        result = kcat("-L", *kcat_args(settings), "-m", "2", check=False, timeout=30)
        assert result.returncode != 0, f"kcat -L with {identity}: {result.stdout!r}"
        errors = client_errors(settings, seconds=5, wanted={KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN})
        assert errors and all(e.code() in (KafkaError._SSL, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
                              for e in errors), errors


def test_requested_client_auth_names_clients_that_present_a_certificate(apus_binary, broker_factory, certs):
    """ssl.client.auth=requested: a certificate, when presented, must be trusted and names the
    principal; a client without one is served as User:ANONYMOUS, as Kafka does."""
    broker, admin_settings, admin, topic = certificate_broker(broker_factory, certs, "requested", "sec-requested")
    grant(admin, allow("User:alice", ResourceType.TOPIC, topic, AclOperation.WRITE))
    sent = messages(20, "requested")
    assert produce(tls_settings(broker, certs, certs.alice), topic, sent, **{"enable.idempotence": False}) == [None] * 20

    # No certificate: connected, but as User:ANONYMOUS, which may not write.
    anonymous = tls_settings(broker, certs)
    listed = json.loads(kcat("-L", "-J", *kcat_args(anonymous), "-m", "10").stdout)
    assert listed["brokers"] == [{"id": 0, "name": broker.address("SSL")}]
    errors = produce(anonymous, topic, messages(3, "anonymous"), **{"enable.idempotence": False})
    assert {e.code() if e else None for e in errors} == {KafkaError.TOPIC_AUTHORIZATION_FAILED}, errors
    grant(admin, allow("User:ANONYMOUS", ResourceType.TOPIC, topic, AclOperation.WRITE))
    later = messages(5, "anonymous-allowed")
    assert produce(anonymous, topic, later, **{"enable.idempotence": False}) == [None] * 5
    assert read_back(admin_settings, topic, 25) == sent + later

    # A certificate from a CA the broker does not trust: no connection at all.
    untrusted = tls_settings(broker, certs, certs.mallory)
    result = kcat("-L", *kcat_args(untrusted), "-m", "2", check=False, timeout=30)
    assert result.returncode != 0, f"kcat -L with mallory's certificate: {result.stdout!r}"


def test_listener_scoped_settings_demand_certificates_on_one_listener_only(apus_binary, broker_factory, certs):
    """listener.name.<listener>.ssl.client.auth: the MTLS listener demands a client certificate,
    the SSL listener beside it, with the broker-wide none, does not."""
    broker = secure_broker(broker_factory, certs, ("SSL", "MTLS"), **{
        "listener.security.protocol.map": "SSL:SSL,MTLS:SSL",
        "listener.name.mtls.ssl.client.auth": "required", "listener.name.mtls.ssl.truststore.location": certs.ca,
        "listener.name.mtls.ssl.principal.mapping.rules": "RULE:^CN=([^,]+),O=Apus$/$1/,DEFAULT"})
    plain = tls_settings(broker, certs, listener="SSL")
    listed = json.loads(kcat("-L", "-J", *kcat_args(plain), "-m", "10").stdout)
    assert listed["brokers"] == [{"id": 0, "name": broker.address("SSL")}]
    without = tls_settings(broker, certs, listener="MTLS")
    result = kcat("-L", *kcat_args(without), "-m", "2", check=False, timeout=30)
    assert result.returncode != 0, f"kcat -L without a certificate on MTLS: {result.stdout!r}"
    # With the admin's certificate on MTLS: User:admin, the super user, may create a topic.
    admin = admin_client(tls_settings(broker, certs, certs.admin, listener="MTLS"))
    create_topic(admin, unique_topic("sec-listener"))
    config = admin.describe_configs([ConfigResource(ConfigResource.Type.BROKER, "0")])
    entries = next(iter(config.values())).result(timeout=TIMEOUT_S)
    assert entries["listener.name.mtls.ssl.client.auth"].value == "required"


def test_describe_topics_reports_the_operations_each_client_may_do(apus_binary, broker_factory, certs):
    """KIP-430 through librdkafka's DescribeTopics (Metadata with topic authorized operations)."""
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    add_user(apus_binary, broker, "alice", ALICE_PASSWORD)
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD))
    topic = unique_topic("sec-ops")
    create_topic(admin, topic)
    grant(admin, allow("User:alice", ResourceType.TOPIC, topic, AclOperation.READ, AclOperation.WRITE))
    alice = admin_client(sasl_settings(broker, certs, "alice", ALICE_PASSWORD))

    def operations(client):
        described = client.describe_topics(TopicCollection([topic]), include_authorized_operations=True)
        return set(described[topic].result(timeout=TIMEOUT_S).authorized_operations)

    assert operations(alice) == {AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE}
    assert operations(admin) == {AclOperation.READ, AclOperation.WRITE, AclOperation.CREATE, AclOperation.DESCRIBE,
                                 AclOperation.DELETE, AclOperation.ALTER, AclOperation.DESCRIBE_CONFIGS,
                                 AclOperation.ALTER_CONFIGS}


# ---- 7. ACL and user management -----------------------------------------------------------

def test_admin_client_creates_describes_and_deletes_acls_which_persist(apus_binary, broker_factory, certs):
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    add_user(apus_binary, broker, "alice", ALICE_PASSWORD)
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD))
    wanted = (allow("User:bob", ResourceType.TOPIC, "orders", AclOperation.READ, AclOperation.WRITE)
              + allow("User:bob", ResourceType.TOPIC, "logs-", AclOperation.READ, pattern=ResourcePatternType.PREFIXED)
              + allow("User:bob", ResourceType.GROUP, "billing", AclOperation.READ)
              + allow("User:bob", ResourceType.BROKER, "kafka-cluster", AclOperation.IDEMPOTENT_WRITE)
              + [AclBinding(ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:eve", "10.0.0.9",
                            AclOperation.ALL, AclPermissionType.DENY)])
    assert all(result is None for result in resolve(admin.create_acls(wanted)).values())

    def described(**filter_fields):
        fields = dict(restype=ResourceType.ANY, name=None, resource_pattern_type=ResourcePatternType.ANY,
                      principal=None, host=None, operation=AclOperation.ANY, permission_type=AclPermissionType.ANY)
        fields.update(filter_fields)
        return set(admin.describe_acls(AclBindingFilter(*fields.values())).result(timeout=TIMEOUT_S))

    assert described() == set(wanted)
    assert described(principal="User:bob", restype=ResourceType.TOPIC) == set(wanted[:3])
    assert described(restype=ResourceType.TOPIC, name="logs-app", resource_pattern_type=ResourcePatternType.MATCH) \
        == {wanted[2]}

    deleted = resolve(admin.delete_acls([AclBindingFilter(
        ResourceType.TOPIC, "orders", ResourcePatternType.LITERAL, "User:bob", None, AclOperation.ANY,
        AclPermissionType.ALLOW)]))
    assert set(next(iter(deleted.values()))) == set(wanted[:2])
    remaining = set(wanted[2:])
    assert described() == remaining
    assert json.loads((broker.data_dir / "security" / "acls.json").read_text())["acls"], "acls.json is empty"

    broker.restart()
    assert described() == remaining, "ACLs lost across a restart"

    # Only a principal with Describe/Alter on the cluster may see or change ACLs. (librdkafka drops
    # DescribeAcls' error code, so alice sees an empty list; `apus acls list` shows the
    # CLUSTER_AUTHORIZATION_FAILED in test_apus_users_and_acls_commands_manage_a_secured_broker.)
    alice = admin_client(sasl_settings(broker, certs, "alice", ALICE_PASSWORD))
    assert alice.describe_acls(AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None,
                                                AclOperation.ANY, AclPermissionType.ANY)).result(timeout=TIMEOUT_S) == []
    with pytest.raises(KafkaException) as raised:
        resolve(alice.create_acls(allow("User:alice", ResourceType.TOPIC, "*", AclOperation.ALL)))
    assert raised.value.args[0].code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED, raised.value
    assert described() == remaining


def test_apus_users_and_acls_commands_manage_a_secured_broker(apus_binary, broker_factory, certs, tmp_path):
    broker = secure_broker(broker_factory, certs)
    add_user(apus_binary, broker, "admin", ADMIN_PASSWORD)
    credentials = json.loads((broker.data_dir / "security" / "scram-credentials.json").read_text())
    assert set(credentials["users"]["admin"]) == {"SCRAM-SHA-256", "SCRAM-SHA-512"}
    assert ADMIN_PASSWORD not in json.dumps(credentials), "the password is stored in the clear"
    admin_flags = []
    for key, value in sasl_settings(broker, certs, "admin", ADMIN_PASSWORD).items():
        if key != "bootstrap.servers":
            admin_flags += ["-X", f"{key}={value}"]
    connect = ["-b", broker.address("SASL_SSL"), *admin_flags]
    command_config = tmp_path / "admin.properties"
    command_config.write_text("".join(f"{key}={value}\n" for key, value in
                                      sasl_settings(broker, certs, "admin", ADMIN_PASSWORD, "SCRAM-SHA-512").items()
                                      if key != "bootstrap.servers"))
    topic = unique_topic("sec-cli")
    admin = admin_client(sasl_settings(broker, certs, "admin", ADMIN_PASSWORD))
    create_topic(admin, topic)

    # A user created online (AlterUserScramCredentials), listed, then allowed to produce.
    apus(apus_binary, "users", "add", "bob", "--password", "bob-pw", "--mechanism", "SCRAM-SHA-256", *connect)
    listing = apus(apus_binary, "users", "list", "-b", broker.address("SASL_SSL"),
                   "--command-config", command_config).stdout
    rows = {tuple(line.split()[:2]) for line in listing.splitlines()[1:]}
    assert {("bob", "SCRAM-SHA-256"), ("admin", "SCRAM-SHA-256"), ("admin", "SCRAM-SHA-512")} <= rows, listing
    bob = sasl_settings(broker, certs, "bob", "bob-pw")
    denied = produce(bob, topic, messages(2, "x"), **{"enable.idempotence": False})
    assert {e.code() if e else None for e in denied} == {KafkaError.TOPIC_AUTHORIZATION_FAILED}

    added = apus(apus_binary, "acls", "add", "--allow-principal", "User:bob", "--producer", "--topic", topic, *connect)
    assert "User:bob" in added.stdout
    listed = apus(apus_binary, "acls", "list", "--topic", topic, *connect).stdout
    operations = {line.split()[5] for line in listed.splitlines()[1:] if "User:bob" in line}
    assert {"Write", "Describe", "Create"} <= operations, listed
    assert produce(bob, topic, messages(20, "cli")) == [None] * 20

    removed = apus(apus_binary, "acls", "remove", "--allow-principal", "User:bob", "--operation", "Write",
                   "--topic", topic, *connect).stdout
    assert "Write" in removed, removed
    listed = apus(apus_binary, "acls", "list", "--topic", topic, "--principal", "User:bob", *connect).stdout
    assert "Write" not in listed and "Describe" in listed, listed
    denied = produce(bob, topic, messages(2, "y"), **{"enable.idempotence": False})
    assert {e.code() if e else None for e in denied} == {KafkaError.TOPIC_AUTHORIZATION_FAILED}

    # Deleting the user ends its logins.
    apus(apus_binary, "users", "delete", "bob", *connect)
    listing = apus(apus_binary, "users", "list", *connect).stdout
    assert "bob" not in listing, listing
    errors = client_errors(bob, wanted={KafkaError._AUTHENTICATION})
    assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors

    # A user without Describe on the cluster may not list ACLs.
    add_user(apus_binary, broker, "carol", "carol-pw")
    refused = apus(apus_binary, "acls", "list", "-b", broker.address("SASL_SSL"),
                   *kcat_args(sasl_settings(broker, certs, "carol", "carol-pw"))[2:], check=False)
    assert refused.returncode != 0 and "CLUSTER_AUTHORIZATION_FAILED" in refused.stderr, refused.stderr

    # Without the right password the CLI is refused.
    failed = apus(apus_binary, "acls", "list", "-b", broker.address("SASL_SSL"), "-X", "security.protocol=SASL_SSL",
                  "-X", f"ssl.ca.location={certs.ca}", "-X", "sasl.mechanism=SCRAM-SHA-256", "-X", "sasl.username=admin",
                  "-X", "sasl.password=wrong", check=False)
    assert failed.returncode != 0 and "uthentication" in failed.stderr, failed.stderr


# ---- 8. the warning about unauthenticated listeners beyond loopback ------------------------

def test_listening_beyond_loopback_without_authentication_is_warned_about(broker_factory, certs):
    exposed = broker_factory(listen_host="0.0.0.0")
    warning = "listening beyond loopback without authentication"
    assert wait_until(lambda: warning in exposed.log_text(), timeout=10, message="the warning")
    assert f"PLAINTEXT://0.0.0.0:{exposed.port}" in exposed.log_text()
    kcat("-L", "-b", exposed.bootstrap, "-m", "10")  # and it serves

    # A SASL listener beyond loopback authenticates: no warning for it; none for loopback either.
    secured = secure_broker(broker_factory, certs, ("SASL_SSL",), listen_host="0.0.0.0")
    loopback = broker_factory()
    for broker in (secured, loopback):
        wait_until(lambda: "broker started" in broker.log_text(), timeout=10, message="broker started")
        assert warning not in broker.log_text()
