"""parse_node_config: defaults, environment variables, and one error per bad flag."""

from pathlib import Path

import pytest

from consensus.node_config import (
    FLAGS,
    AutoCompaction,
    ClusterState,
    HostPort,
    Member,
    NodeConfigError,
    parse_node_config,
)


def parse(environ=None, **flags):
    return parse_node_config(flags, environ or {})


def test_defaults_make_a_one_member_cluster():
    config = parse()
    assert config.name == "default"
    assert config.data_dir == Path("./data")
    assert config.listen_client == HostPort("127.0.0.1", 8000)
    assert config.listen_peer == HostPort("127.0.0.1", 2380)
    assert config.initial_cluster == (Member("default", HostPort("127.0.0.1", 2380)),)
    assert config.initial_cluster_state is ClusterState.NEW
    assert (config.heartbeat_ms, config.election_ms, config.snapshot_count) == (100, 1000, 10000)
    assert config.snapshot_catchup_entries == 5000
    assert config.election_ticks == 10
    assert config.member == config.initial_cluster[0]


def test_default_initial_cluster_follows_name_and_listen_peer():
    config = parse(name="n1", listen_peer="10.0.0.5:2390")
    assert [str(member) for member in config.initial_cluster] == ["n1=10.0.0.5:2390"]


def test_three_member_cluster():
    config = parse(
        name="b",
        listen_peer="0.0.0.0:2382",
        initial_cluster="a=10.0.0.1:2380, b=10.0.0.2:2382,c=node-c.example:2380",
        initial_cluster_state="existing",
    )
    assert [member.name for member in config.initial_cluster] == ["a", "b", "c"]
    assert config.member == Member("b", HostPort("10.0.0.2", 2382))
    assert config.initial_cluster_state is ClusterState.EXISTING


def test_the_grpc_api_listens_on_etcds_client_port_unless_turned_off():
    assert parse().listen_grpc == HostPort("127.0.0.1", 2379)
    assert parse(listen_grpc="0.0.0.0:12379").listen_grpc == HostPort("0.0.0.0", 12379)
    assert parse(listen_grpc="off").listen_grpc is None
    assert parse({"CONFIG_CENTER_LISTEN_GRPC": "OFF"}).listen_grpc is None


@pytest.mark.parametrize("flags, message", [
    ({"listen_grpc": "127.0.0.1:8000"}, "--listen-grpc: 127.0.0.1:8000 overlaps --listen-client"),
    ({"listen_grpc": "0.0.0.0:2380"}, "--listen-grpc: 0.0.0.0:2380 overlaps --listen-peer"),
    ({"listen_grpc": "nowhere"}, "--listen-grpc"),
    ({"listen_grpc": "127.0.0.1:99999"}, "--listen-grpc"),
])
def test_a_grpc_listener_that_cannot_be_is_refused_by_name(flags, message):
    with pytest.raises(NodeConfigError) as caught:
        parse(**flags)
    assert str(caught.value).startswith(message)


def test_ipv6_addresses_in_brackets():
    config = parse(listen_client="[::1]:8001", listen_peer="[::1]:2381")
    assert config.listen_client == HostPort("::1", 8001)
    assert str(config.listen_peer) == "[::1]:2381"


def test_every_flag_has_an_environment_variable():
    assert [flag.env for flag in FLAGS] == [
        "CONFIG_CENTER_NAME",
        "CONFIG_CENTER_DATA_DIR",
        "CONFIG_CENTER_LISTEN_CLIENT",
        "CONFIG_CENTER_LISTEN_PEER",
        "CONFIG_CENTER_LISTEN_GRPC",
        "CONFIG_CENTER_ADVERTISE_PEER",
        "CONFIG_CENTER_INITIAL_CLUSTER",
        "CONFIG_CENTER_INITIAL_CLUSTER_STATE",
        "CONFIG_CENTER_HEARTBEAT_MS",
        "CONFIG_CENTER_ELECTION_MS",
        "CONFIG_CENTER_SNAPSHOT_COUNT",
        "CONFIG_CENTER_SNAPSHOT_CATCHUP_ENTRIES",
        "CONFIG_CENTER_INITIAL_CLUSTER_TOKEN",
        "CONFIG_CENTER_CLUSTER_SECRET_FILE",
        "CONFIG_CENTER_QUOTA_BACKEND_BYTES",
        "CONFIG_CENTER_MAX_REQUEST_BYTES",
        "CONFIG_CENTER_MAX_TXN_OPS",
        "CONFIG_CENTER_AUTO_COMPACTION_MODE",
        "CONFIG_CENTER_AUTO_COMPACTION_RETENTION",
        "CONFIG_CENTER_STORE_AUTH",
    ]


def test_environment_variables_set_values():
    config = parse(
        {
            "CONFIG_CENTER_NAME": "env-node",
            "CONFIG_CENTER_DATA_DIR": "/var/lib/cc",
            "CONFIG_CENTER_LISTEN_CLIENT": "127.0.0.1:9000",
            "CONFIG_CENTER_LISTEN_PEER": "127.0.0.1:9380",
            "CONFIG_CENTER_HEARTBEAT_MS": "50",
            "CONFIG_CENTER_ELECTION_MS": "500",
            "CONFIG_CENTER_SNAPSHOT_COUNT": "7",
            "CONFIG_CENTER_INITIAL_CLUSTER_STATE": "existing",
        }
    )
    assert config.name == "env-node"
    assert config.data_dir == Path("/var/lib/cc")
    assert config.listen_client == HostPort("127.0.0.1", 9000)
    assert config.initial_cluster == (Member("env-node", HostPort("127.0.0.1", 9380)),)
    assert (config.heartbeat_ms, config.election_ms, config.snapshot_count) == (50, 500, 7)
    assert config.initial_cluster_state is ClusterState.EXISTING


def test_command_line_wins_over_environment():
    config = parse({"CONFIG_CENTER_HEARTBEAT_MS": "50"}, heartbeat_ms="20")
    assert config.heartbeat_ms == 20


def test_none_means_flag_not_given():
    config = parse({"CONFIG_CENTER_NAME": "from-env"}, name=None)
    assert config.name == "from-env"


def test_error_from_environment_names_flag_and_variable():
    with pytest.raises(NodeConfigError) as caught:
        parse({"CONFIG_CENTER_SNAPSHOT_COUNT": "0"})
    assert caught.value.flag == "--snapshot-count"
    assert caught.value.env == "CONFIG_CENTER_SNAPSHOT_COUNT"
    assert str(caught.value).startswith("--snapshot-count (set by CONFIG_CENTER_SNAPSHOT_COUNT): ")


def test_unknown_key_is_a_programming_error():
    with pytest.raises(ValueError, match="not node flags"):
        parse(heartbeat=100)


@pytest.mark.parametrize(
    ("flags", "flag"),
    [
        ({"name": ""}, "--name"),
        ({"name": "has space"}, "--name"),
        ({"name": "-leading-dash"}, "--name"),
        ({"name": "a,b"}, "--name"),
        ({"data_dir": "  "}, "--data-dir"),
        ({"listen_client": "127.0.0.1"}, "--listen-client"),
        ({"listen_client": ":8000"}, "--listen-client"),
        ({"listen_client": "127.0.0.1:0"}, "--listen-client"),
        ({"listen_client": "127.0.0.1:65536"}, "--listen-client"),
        ({"listen_client": "127.0.0.1:http"}, "--listen-client"),
        ({"listen_client": "999.1.1.1:8000"}, "--listen-client"),
        ({"listen_client": "::1:8000"}, "--listen-client"),
        ({"listen_client": "[not-v6]:8000"}, "--listen-client"),
        ({"listen_client": "bad_host!:8000"}, "--listen-client"),
        ({"listen_peer": "localhost"}, "--listen-peer"),
        ({"listen_peer": "127.0.0.1:8000"}, "--listen-peer"),
        ({"listen_client": "0.0.0.0:2380"}, "--listen-peer"),
        ({"initial_cluster_state": "fresh"}, "--initial-cluster-state"),
        ({"heartbeat_ms": "0"}, "--heartbeat-ms"),
        ({"heartbeat_ms": "-5"}, "--heartbeat-ms"),
        ({"heartbeat_ms": "1e2"}, "--heartbeat-ms"),
        ({"election_ms": "ten"}, "--election-ms"),
        ({"heartbeat_ms": "100", "election_ms": "100"}, "--election-ms"),
        ({"heartbeat_ms": "100", "election_ms": "299"}, "--election-ms"),
        ({"heartbeat_ms": "1000", "election_ms": "50001"}, "--election-ms"),
        ({"snapshot_count": "0"}, "--snapshot-count"),
        ({"snapshot_count": "1_000"}, "--snapshot-count"),
        ({"snapshot_catchup_entries": "-1"}, "--snapshot-catchup-entries"),
        ({"snapshot_catchup_entries": "many"}, "--snapshot-catchup-entries"),
    ],
)
def test_bad_value_names_its_flag(flags, flag):
    with pytest.raises(NodeConfigError) as caught:
        parse(**flags)
    assert caught.value.flag == flag
    assert str(caught.value).startswith(flag + ": ")


def test_election_exactly_three_heartbeats_is_accepted():
    assert parse(heartbeat_ms="100", election_ms="300").election_ticks == 3


@pytest.mark.parametrize(
    ("cluster", "words"),
    [
        ("other=127.0.0.1:2380", "no member named 'default'"),
        ("default=127.0.0.1:2380,default=127.0.0.1:2381", "more than once"),
        ("default=127.0.0.1:2380,b=127.0.0.1:2380", "share the peer address"),
        ("default=127.0.0.1:2380,", "empty entry"),
        ("default", "not NAME=HOST:PORT"),
        ("default=127.0.0.1:2380,b=nowhere", "member 'b'"),
        ("default=127.0.0.1:2380,b c=127.0.0.1:2381", "'b c' is not valid"),
        ("default=127.0.0.1:2999", "--listen-peer is 127.0.0.1:2380"),
        ("default=127.0.0.1:2380,b=0.0.0.0:2381", "wildcard"),
    ],
)
def test_bad_initial_cluster(cluster, words):
    with pytest.raises(NodeConfigError) as caught:
        parse(initial_cluster=cluster)
    assert caught.value.flag == "--initial-cluster"
    assert words in str(caught.value)


def test_wildcard_listen_peer_needs_only_the_same_port():
    config = parse(listen_peer="0.0.0.0:2380", initial_cluster="default=10.1.2.3:2380")
    assert config.member.peer == HostPort("10.1.2.3", 2380)
    with pytest.raises(NodeConfigError, match="--initial-cluster"):
        parse(listen_peer="0.0.0.0:2380", initial_cluster="default=10.1.2.3:2381")


def test_direct_construction_is_validated_too():
    config = parse()
    with pytest.raises(NodeConfigError, match="--election-ms"):
        type(config)(**{**_fields(config), "election_ms": 200})


def _fields(config):
    return {name: getattr(config, name) for name in config.__dataclass_fields__}


@pytest.mark.parametrize(
    "flag, value, fragment",
    [
        ("store_auth", "maybe", "--store-auth"),
        ("initial_cluster_token", " ", "--initial-cluster-token"),
        ("cluster_secret_file", " ", "--cluster-secret-file"),
    ],
)
def test_the_cluster_flags_refuse_bad_values_naming_the_flag(flag, value, fragment):
    with pytest.raises(NodeConfigError) as caught:
        parse_node_config({flag: value}, {})
    assert caught.value.flag == fragment


def test_store_auth_is_on_by_default_and_can_be_turned_off():
    assert parse_node_config({}, {}).store_auth is True
    assert parse_node_config({"store_auth": "off"}, {}).store_auth is False
    assert parse_node_config({}, {"CONFIG_CENTER_STORE_AUTH": "OFF"}).store_auth is False


def test_an_advertised_peer_address_must_be_the_members_entry_in_the_initial_cluster():
    config = parse_node_config(
        {"name": "a", "listen_peer": "127.0.0.1:2390", "advertise_peer": "127.0.0.1:3390",
         "initial_cluster": "a=127.0.0.1:3390,b=127.0.0.1:3391"}, {},
    )
    assert config.member.peer == HostPort("127.0.0.1", 3390)
    with pytest.raises(NodeConfigError) as caught:
        parse_node_config(
            {"name": "a", "listen_peer": "127.0.0.1:2390", "advertise_peer": "127.0.0.1:3390",
             "initial_cluster": "a=127.0.0.1:2390,b=127.0.0.1:3391"}, {},
        )
    assert caught.value.flag == "--initial-cluster" and "--advertise-peer" in str(caught.value)


def test_etcd_url_forms_are_taken_where_an_address_is_asked_for():
    config = parse(listen_peer="http://127.0.0.1:12380", listen_grpc="http://127.0.0.1:12379/",
                   advertise_peer="http://10.0.0.5:2380",
                   initial_cluster="default=http://10.0.0.5:2380,b=http://10.0.0.6:2380")
    assert config.listen_peer == HostPort("127.0.0.1", 12380)
    assert config.listen_grpc == HostPort("127.0.0.1", 12379)
    assert config.initial_cluster[1] == Member("b", HostPort("10.0.0.6", 2380))


@pytest.mark.parametrize("flags, message", [
    ({"listen_grpc": "https://127.0.0.1:2379"}, "--listen-grpc: 'https://127.0.0.1:2379': TLS is not served yet"),
    ({"listen_grpc": "http://127.0.0.1:2379,http://10.0.0.1:2379"}, "--listen-grpc: 'http://127.0.0.1:2379,http"),
    ({"listen_peer": "unix://x:1"}, "--listen-peer: 'unix://x:1': a URL here is http://HOST:PORT"),
    ({"quota_backend_bytes": "1000"}, "--quota-backend-bytes: must be at least 1048576"),
    ({"max_request_bytes": "100"}, "--max-request-bytes: must be from 1024"),
    ({"max_request_bytes": str(65 * 1024 * 1024)}, "--max-request-bytes: must be from 1024"),
    ({"max_txn_ops": "0"}, "--max-txn-ops: must be at least 1"),
])
def test_etcd_style_values_that_cannot_be_are_refused_by_name(flags, message):
    with pytest.raises(NodeConfigError) as caught:
        parse(**flags)
    assert str(caught.value).startswith(message)


def test_limits_default_to_etcds():
    config = parse()
    assert (config.quota_backend_bytes, config.max_request_bytes, config.max_txn_ops) == (2 * 1024**3, 1572864, 128)
    assert parse(max_txn_ops="1024", quota_backend_bytes="8589934592").max_txn_ops == 1024


def test_every_etcd_alias_names_a_flag_of_its_own():
    aliases = [alias for flag in FLAGS for alias in flag.aliases]
    assert len(aliases) == len(set(aliases)) and not set(aliases) & {flag.option for flag in FLAGS}
    assert set(aliases) == {"--listen-peer-urls", "--listen-client-urls", "--initial-advertise-peer-urls",
                            "--heartbeat-interval", "--election-timeout"}


@pytest.mark.parametrize("mode, retention, expected", [
    ("periodic", "0", None),
    ("periodic", "1", AutoCompaction("periodic", 3600.0)),
    ("periodic", "30m", AutoCompaction("periodic", 1800.0)),
    ("periodic", "1h30m", AutoCompaction("periodic", 5400.0)),
    ("periodic", "2s", AutoCompaction("periodic", 2.0)),
    ("revision", "1000", AutoCompaction("revision", 1000)),
    ("revision", "0", None),
])
def test_auto_compaction_flags_read_as_etcd_reads_them(mode, retention, expected):
    config = parse(auto_compaction_mode=mode, auto_compaction_retention=retention)
    assert config.auto_compaction == expected
    assert parse().auto_compaction is None


@pytest.mark.parametrize("flags, message", [
    ({"auto_compaction_mode": "hourly", "auto_compaction_retention": "1"}, "--auto-compaction-mode: 'hourly'"),
    ({"auto_compaction_mode": "revision", "auto_compaction_retention": "1h"}, "--auto-compaction-retention: '1h' is not"),
    ({"auto_compaction_retention": "soon"}, "--auto-compaction-retention: 'soon' is neither"),
    ({"auto_compaction_retention": "500ms"}, "--auto-compaction-retention: '500ms' is shorter"),
])
def test_auto_compaction_flags_that_cannot_be_are_refused_by_name(flags, message):
    with pytest.raises(NodeConfigError) as caught:
        parse(**flags)
    assert str(caught.value).startswith(message)
