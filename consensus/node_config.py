"""A node's startup configuration: etcd-style flags, their environment variables,
and the rules a configuration must satisfy before anything starts.

This module is pure: no I/O, no clock, no global state. ``parse_node_config``
takes the raw strings (command-line values and an environment mapping) and either
returns a :class:`NodeConfig` or raises :class:`NodeConfigError` naming the flag
that is wrong, so the caller can refuse to start with a message the operator can
act on.

Every flag has an environment variable: ``--heartbeat-ms`` is
``CONFIG_CENTER_HEARTBEAT_MS``. A flag given on the command line wins over its
variable; the variable wins over the default.

etcd's own flag names are accepted as aliases (``Flag.aliases``), so scripts
and tools that start etcd can start a node: ``--listen-client-urls`` is
``--listen-grpc`` (etcd's clients dial its client URL over gRPC),
``--listen-peer-urls`` and ``--initial-advertise-peer-urls`` the peer
listener and its advertised address, ``--heartbeat-interval`` and
``--election-timeout`` the timings (milliseconds, as etcd's), and
``--initial-cluster`` takes etcd's ``name=http://host:port`` entries. Where an
address is asked for, ``http://host:port`` is taken as ``host:port``;
``https://`` is refused (TLS is not served yet), and so is a list of URLs
(one listener per flag). An etcd flag without a counterpart here is refused
by the command line parser, by name, never ignored.
"""
from __future__ import annotations

import enum
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_PREFIX = "CONFIG_CENTER_"

# etcd refuses election timeouts above 50 s (maxElectionMs in etcd's embed config);
# beyond that a dead leader goes unnoticed for longer than any client will wait.
MAX_ELECTION_MS = 50_000

# A store smaller than this could not hold its own bootstrap records.
MIN_QUOTA_BYTES = 1024 * 1024
# etcd warns above 10 MiB; a Raft entry this size already stalls replication.
MAX_REQUEST_BYTES = 64 * 1024 * 1024

# A follower must miss several heartbeats before it calls an election, or one late
# packet starts a needless election (Raft thesis §9.3 puts the election timeout an
# order of magnitude above the broadcast time). etcd insists on 5x; we accept 3x.
MIN_ELECTION_HEARTBEAT_RATIO = 3

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,62}")
_HOST_LABEL_RE = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")
_DIGITS_RE = re.compile(r"[0-9]+")
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::"})


class NodeConfigError(ValueError):
    """A configuration value is malformed or inconsistent with another one.

    ``flag`` is the command-line spelling (``--election-ms``) of the value to fix;
    ``env`` names the environment variable the bad value came from, if it did.
    ``str(error)`` is a complete message for the operator.
    """

    def __init__(self, flag: str, reason: str, *, env: str | None = None) -> None:
        self.flag = flag
        self.reason = reason
        self.env = env
        where = f"{flag} (set by {env})" if env else flag
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class Flag:
    """One node flag: its option, its environment variable, its default and help.

    ``default`` is the raw string default; ``None`` means "derived from other
    flags" (only ``--initial-cluster``, which defaults to this node alone).
    """

    dest: str
    default: str | None
    help: str
    aliases: tuple[str, ...] = ()  # etcd's names for the same flag

    @property
    def option(self) -> str:
        return "--" + self.dest.replace("_", "-")

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.dest.upper()


FLAGS: tuple[Flag, ...] = (
    Flag("name", "default", "This member's name; must appear in --initial-cluster."),
    Flag("data_dir", "./data", "Directory for the WAL, snapshots and the store's database."),
    Flag("listen_client", "127.0.0.1:8000", "HOST:PORT serving the API, websockets and console."),
    Flag("listen_peer", "127.0.0.1:2380", "HOST:PORT where this member listens for its peers.",
         aliases=("--listen-peer-urls",)),
    Flag(
        "listen_grpc",
        "127.0.0.1:2379",
        "HOST:PORT serving etcd's v3 gRPC API (etcdctl, clientv3), etcd's client port; "
        "'off' serves none.",
        aliases=("--listen-client-urls",),
    ),
    Flag(
        "advertise_peer",
        None,
        "HOST:PORT other members dial to reach this one, when it differs from --listen-peer "
        "(a proxy or NAT in between). Default: --listen-peer.",
        aliases=("--initial-advertise-peer-urls",),
    ),
    Flag(
        "initial_cluster",
        None,
        "Members at bootstrap, NAME=HOST:PORT,... (default: this node alone, "
        "NAME=LISTEN_PEER).",
    ),
    Flag("initial_cluster_state", "new", "'new' to bootstrap a cluster, 'existing' to join one."),
    Flag("heartbeat_ms", "100", "Heartbeat interval in milliseconds; also the tick length.",
         aliases=("--heartbeat-interval",)),
    Flag(
        "election_ms",
        "1000",
        f"Election timeout in milliseconds; at least {MIN_ELECTION_HEARTBEAT_RATIO}x "
        f"--heartbeat-ms and at most {MAX_ELECTION_MS}.",
        aliases=("--election-timeout",),
    ),
    Flag("snapshot_count", "10000", "Applied entries between two snapshots of the store."),
    Flag(
        "snapshot_catchup_entries",
        "5000",
        "Entries kept behind each snapshot, so a follower a little behind catches up from the "
        "log instead of a full copy of the store.",
    ),
    Flag(
        "initial_cluster_token",
        "config-center",
        "Distinguishes this cluster's member IDs from another cluster's built from the same "
        "--initial-cluster.",
    ),
    Flag(
        "cluster_secret_file",
        None,
        "File holding the secret all members share (peer authentication, store auth tokens). "
        "Required for several members; a one-member cluster creates DATA_DIR/cluster-secret.",
    ),
    Flag("quota_backend_bytes", str(2 * 1024**3),
         "The store's size above which writes that add data are refused (etcd's quota)."),
    Flag("max_request_bytes", "1572864", "The largest request the store takes, in bytes (etcd's limit)."),
    Flag("max_txn_ops", "128", "The most operations one transaction may hold (etcd's limit)."),
    Flag("auto_compaction_mode", "periodic",
         "'periodic': keep --auto-compaction-retention of time; 'revision': keep that many revisions."),
    Flag("auto_compaction_retention", "0",
         "How much history auto-compaction keeps: for periodic a duration (1h, 30m, 90s) or a whole "
         "number of hours, for revision a number of revisions; 0 turns it off (etcd's flags)."),
    Flag(
        "store_auth",
        "on",
        "'on': the etcd-compatible store API requires users and permissions (a root password "
        "is generated on first start); 'off': open to anyone who can reach the client port.",
    ),
)

_FLAGS_BY_DEST = {flag.dest: flag for flag in FLAGS}


@dataclass(frozen=True, slots=True)
class AutoCompaction:
    """What ``--auto-compaction-*`` ask for: ``mode`` "periodic" with
    ``retention`` in seconds, or "revision" with a count of revisions."""

    mode: str
    retention: float


class ClusterState(enum.Enum):
    """Whether this member bootstraps a new cluster or joins an existing one."""

    NEW = "new"
    EXISTING = "existing"


@dataclass(frozen=True, slots=True)
class HostPort:
    """A TCP address. ``host`` is an IP address or a DNS name, IPv6 without brackets."""

    host: str
    port: int

    @property
    def is_wildcard(self) -> bool:
        """True for 0.0.0.0 and ::, which listen on every interface."""
        return self.host in _WILDCARD_HOSTS

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Member:
    """One entry of ``--initial-cluster``: a member's name and its peer address."""

    name: str
    peer: HostPort

    def __str__(self) -> str:
        return f"{self.name}={self.peer}"


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """A validated node configuration.

    Construction checks every rule that involves more than one value (and the
    ranges), raising :class:`NodeConfigError` naming the flag to fix, so a
    ``NodeConfig`` that exists is one a node may start with. Build one from raw
    strings with :func:`parse_node_config`.

    ``data_dir`` is kept as given (possibly relative to the working directory);
    nothing here touches the filesystem.
    """

    name: str
    data_dir: Path
    listen_client: HostPort
    listen_peer: HostPort
    initial_cluster: tuple[Member, ...]
    initial_cluster_state: ClusterState
    heartbeat_ms: int
    election_ms: int
    snapshot_count: int
    snapshot_catchup_entries: int = 5000
    initial_cluster_token: str = "config-center"
    cluster_secret_file: Path | None = None
    store_auth: bool = True
    advertise_peer: HostPort | None = None
    listen_grpc: HostPort | None = None  # None: no gRPC API
    quota_backend_bytes: int = 2 * 1024**3
    max_request_bytes: int = 1_572_864
    max_txn_ops: int = 128
    auto_compaction: AutoCompaction | None = None  # None: off

    def __post_init__(self) -> None:
        _check_name("--name", self.name)
        if self.heartbeat_ms < 1:
            raise NodeConfigError("--heartbeat-ms", f"must be at least 1, got {self.heartbeat_ms}")
        min_election = MIN_ELECTION_HEARTBEAT_RATIO * self.heartbeat_ms
        if self.election_ms < min_election:
            raise NodeConfigError(
                "--election-ms",
                f"{self.election_ms} ms is too short for a heartbeat of {self.heartbeat_ms} ms; "
                f"it must be at least {MIN_ELECTION_HEARTBEAT_RATIO}x --heartbeat-ms "
                f"({min_election} ms)",
            )
        if self.election_ms > MAX_ELECTION_MS:
            raise NodeConfigError(
                "--election-ms", f"{self.election_ms} ms is too long; the maximum is {MAX_ELECTION_MS}"
            )
        if self.snapshot_count < 1:
            raise NodeConfigError(
                "--snapshot-count", f"must be at least 1, got {self.snapshot_count}"
            )
        if self.snapshot_catchup_entries < 0:
            raise NodeConfigError(
                "--snapshot-catchup-entries", f"must be 0 or more, got {self.snapshot_catchup_entries}"
            )
        if self.quota_backend_bytes < MIN_QUOTA_BYTES:
            raise NodeConfigError("--quota-backend-bytes",
                                  f"must be at least {MIN_QUOTA_BYTES} (1 MiB), got {self.quota_backend_bytes}")
        if not 1024 <= self.max_request_bytes <= MAX_REQUEST_BYTES:
            raise NodeConfigError("--max-request-bytes",
                                  f"must be from 1024 to {MAX_REQUEST_BYTES} (64 MiB), got {self.max_request_bytes}")
        if self.max_txn_ops < 1:
            raise NodeConfigError("--max-txn-ops", f"must be at least 1, got {self.max_txn_ops}")
        if _overlaps(self.listen_client, self.listen_peer):
            raise NodeConfigError(
                "--listen-peer",
                f"{self.listen_peer} overlaps --listen-client {self.listen_client}; "
                "the peer and client listeners need different ports",
            )
        if self.listen_grpc is not None:
            for other, name in ((self.listen_client, "--listen-client"), (self.listen_peer, "--listen-peer")):
                if _overlaps(self.listen_grpc, other):
                    raise NodeConfigError(
                        "--listen-grpc",
                        f"{self.listen_grpc} overlaps {name} {other}; each listener needs its own port",
                    )
        self._check_initial_cluster()

    def _check_initial_cluster(self) -> None:
        if not self.initial_cluster:
            raise NodeConfigError("--initial-cluster", "lists no members")
        seen_names: set[str] = set()
        seen_peers: dict[tuple[str, int], str] = {}
        for member in self.initial_cluster:
            _check_name("--initial-cluster", member.name)
            if member.name in seen_names:
                raise NodeConfigError(
                    "--initial-cluster", f"member name {member.name!r} appears more than once"
                )
            seen_names.add(member.name)
            key = (_normalize_host(member.peer.host), member.peer.port)
            if key in seen_peers:
                raise NodeConfigError(
                    "--initial-cluster",
                    f"members {seen_peers[key]!r} and {member.name!r} share the peer address "
                    f"{member.peer}",
                )
            seen_peers[key] = member.name
            if member.peer.is_wildcard and len(self.initial_cluster) > 1:
                raise NodeConfigError(
                    "--initial-cluster",
                    f"member {member.name!r} is at the wildcard address {member.peer}, which "
                    "other members cannot dial; give the address they should connect to",
                )
        me = self.member
        if me is None:
            raise NodeConfigError(
                "--initial-cluster",
                f"has no member named {self.name!r} (this node's --name); "
                f"add {self.name}={self.listen_peer}",
            )
        if self.advertise_peer is not None:
            if (_normalize_host(me.peer.host), me.peer.port) != (
                _normalize_host(self.advertise_peer.host), self.advertise_peer.port,
            ):
                raise NodeConfigError(
                    "--initial-cluster",
                    f"lists {me.name!r} at {me.peer} but --advertise-peer is {self.advertise_peer}; "
                    "they must name the same address",
                )
        elif not _listener_serves(self.listen_peer, me.peer):
            raise NodeConfigError(
                "--initial-cluster",
                f"lists {me.name!r} at {me.peer} but --listen-peer is {self.listen_peer}; "
                "they must name the same address (with a wildcard --listen-peer host such "
                "as 0.0.0.0, the same port)",
            )

    @property
    def member(self) -> Member | None:
        """This node's own entry in ``initial_cluster``."""
        for member in self.initial_cluster:
            if member.name == self.name:
                return member
        return None

    @property
    def election_ticks(self) -> int:
        """Election timeout in ticks of ``heartbeat_ms`` (etcd's ElectionTicks)."""
        return self.election_ms // self.heartbeat_ms


def parse_node_config(
    argv_values: Mapping[str, str | None], environ: Mapping[str, str]
) -> NodeConfig:
    """Build a :class:`NodeConfig` from raw flag values and the environment.

    ``argv_values`` maps a flag's ``dest`` (``"election_ms"``) to the string given
    on the command line, or ``None`` when the flag was not given; flags missing
    from the mapping count as not given. Each value comes from the command line,
    else from ``CONFIG_CENTER_<DEST_UPPER>`` in ``environ``, else from the default.

    Raises :class:`NodeConfigError` naming the first bad flag (and the environment
    variable, when the value came from one). Raises ``ValueError`` for keys in
    ``argv_values`` that are not node flags: that is a programming error.
    """
    unknown = sorted(set(argv_values) - set(_FLAGS_BY_DEST))
    if unknown:
        raise ValueError(f"not node flags: {unknown}")

    raw: dict[str, str | None] = {}
    from_env: dict[str, str] = {}  # option -> variable, for values taken from the environment
    for flag in FLAGS:
        value = argv_values.get(flag.dest)
        if value is None and flag.env in environ:
            value = environ[flag.env]
            from_env[flag.option] = flag.env
        if value is None:
            value = flag.default
        raw[flag.dest] = value

    try:
        name = raw["name"]
        assert name is not None
        _check_name("--name", name)
        data_dir = raw["data_dir"]
        assert data_dir is not None
        if not data_dir.strip():
            raise NodeConfigError("--data-dir", "is empty; give a directory path")
        if "\0" in data_dir:
            raise NodeConfigError("--data-dir", "contains a NUL character")
        listen_client = _parse_host_port("--listen-client", raw["listen_client"])
        listen_peer = _parse_host_port("--listen-peer", raw["listen_peer"])
        grpc_text = raw["listen_grpc"]
        assert grpc_text is not None
        listen_grpc = None if grpc_text.strip().lower() == "off" else _parse_host_port("--listen-grpc", grpc_text)
        advertise_peer = (
            None if raw["advertise_peer"] is None
            else _parse_host_port("--advertise-peer", raw["advertise_peer"])
        )
        cluster_text = raw["initial_cluster"]
        if cluster_text is None:
            initial_cluster: tuple[Member, ...] = (Member(name, advertise_peer or listen_peer),)
        else:
            initial_cluster = _parse_initial_cluster(cluster_text)
        state_text = raw["initial_cluster_state"]
        try:
            state = ClusterState(state_text)
        except ValueError:
            raise NodeConfigError(
                "--initial-cluster-state", f"{state_text!r} is neither 'new' nor 'existing'"
            ) from None
        return NodeConfig(
            name=name,
            data_dir=Path(data_dir),
            listen_client=listen_client,
            listen_peer=listen_peer,
            initial_cluster=initial_cluster,
            initial_cluster_state=state,
            heartbeat_ms=_parse_int("--heartbeat-ms", raw["heartbeat_ms"]),
            election_ms=_parse_int("--election-ms", raw["election_ms"]),
            snapshot_count=_parse_int("--snapshot-count", raw["snapshot_count"]),
            snapshot_catchup_entries=_parse_int("--snapshot-catchup-entries", raw["snapshot_catchup_entries"]),
            initial_cluster_token=_parse_token(raw["initial_cluster_token"]),
            cluster_secret_file=_parse_optional_path("--cluster-secret-file", raw["cluster_secret_file"]),
            store_auth=_parse_on_off("--store-auth", raw["store_auth"]),
            advertise_peer=advertise_peer,
            listen_grpc=listen_grpc,
            quota_backend_bytes=_parse_int("--quota-backend-bytes", raw["quota_backend_bytes"]),
            max_request_bytes=_parse_int("--max-request-bytes", raw["max_request_bytes"]),
            max_txn_ops=_parse_int("--max-txn-ops", raw["max_txn_ops"]),
            auto_compaction=_parse_auto_compaction(raw["auto_compaction_mode"], raw["auto_compaction_retention"]),
        )
    except NodeConfigError as error:
        env = from_env.get(error.flag)
        if env is None or error.env is not None:
            raise
        raise NodeConfigError(error.flag, error.reason, env=env) from None


def _check_name(flag: str, name: str) -> None:
    if not _NAME_RE.fullmatch(name):
        raise NodeConfigError(
            flag,
            f"member name {name!r} is not valid; use 1-63 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )


def _parse_token(text: str | None) -> str:
    assert text is not None
    if not text.strip() or len(text) > 256 or any(ord(c) < 32 for c in text):
        raise NodeConfigError(
            "--initial-cluster-token", f"{text!r} must be 1-256 printable characters"
        )
    return text.strip()


def _parse_optional_path(flag: str, text: str | None) -> Path | None:
    if text is None:
        return None
    if not text.strip() or "\0" in text:
        raise NodeConfigError(flag, f"{text!r} is not a file path")
    return Path(text.strip())


def _parse_on_off(flag: str, text: str | None) -> bool:
    assert text is not None
    value = text.strip().lower()
    if value not in ("on", "off"):
        raise NodeConfigError(flag, f"{text!r} is neither 'on' nor 'off'")
    return value == "on"


_DURATION_RE = re.compile(r"(?:([0-9]+(?:\.[0-9]+)?)(h|m|s|ms))+")
_DURATION_PART_RE = re.compile(r"([0-9]+(?:\.[0-9]+)?)(h|ms|m|s)")
_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 0.001}


def _parse_auto_compaction(mode_text: str | None, retention_text: str | None) -> AutoCompaction | None:
    """etcd 3.4's reading of the two flags: a bare number is hours in
    periodic mode and revisions in revision mode; a duration is Go's
    (``1h30m``, ``90s``), periodic only; zero turns auto-compaction off."""
    assert mode_text is not None and retention_text is not None
    mode = mode_text.strip().lower()
    text = retention_text.strip()
    if mode not in ("periodic", "revision"):
        raise NodeConfigError("--auto-compaction-mode", f"{mode_text!r} is neither 'periodic' nor 'revision'")
    if _DIGITS_RE.fullmatch(text):
        amount = int(text)
        if amount == 0:
            return None
        return AutoCompaction(mode, amount * 3600.0 if mode == "periodic" else amount)
    if mode == "revision":
        raise NodeConfigError("--auto-compaction-retention",
                              f"{retention_text!r} is not a number of revisions (revision mode)")
    if not _DURATION_RE.fullmatch(text):
        raise NodeConfigError("--auto-compaction-retention",
                              f"{retention_text!r} is neither a duration like 1h, 30m or 90s nor a number of hours")
    seconds = sum(float(number) * _UNIT_S[unit] for number, unit in _DURATION_PART_RE.findall(text))
    if seconds == 0:
        return None
    if seconds < 1:
        raise NodeConfigError("--auto-compaction-retention", f"{retention_text!r} is shorter than a second")
    return AutoCompaction(mode, seconds)


def _parse_int(flag: str, text: str | None) -> int:
    assert text is not None
    if not _DIGITS_RE.fullmatch(text.strip()):
        raise NodeConfigError(flag, f"{text!r} is not a whole number of the form 123")
    return int(text.strip())


def _parse_host_port(flag: str, text: str | None) -> HostPort:
    """Parse ``host:port``, ``[ipv6]:port``, or etcd's ``http://host:port``
    (module docstring); the host is an IP address or DNS name."""
    assert text is not None
    example = "e.g. 127.0.0.1:8000 or [::1]:8000"
    text = text.strip()
    if "," in text:
        raise NodeConfigError(flag, f"{text!r} lists several addresses; one listener per flag is served")
    scheme, sep, rest = text.partition("://")
    if sep:
        if scheme.lower() == "https":
            raise NodeConfigError(flag, f"{text!r}: TLS is not served yet; use http:// or HOST:PORT")
        if scheme.lower() not in ("http", "tcp"):
            raise NodeConfigError(flag, f"{text!r}: a URL here is http://HOST:PORT")
        text = rest.rstrip("/")
    if text.startswith("["):
        close = text.find("]")
        if close == -1 or text[close + 1 : close + 2] != ":":
            raise NodeConfigError(flag, f"{text!r} is not HOST:PORT ({example})")
        host, port_text = text[1:close], text[close + 2 :]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise NodeConfigError(flag, f"{host!r} in brackets is not an IPv6 address") from None
    else:
        host, sep, port_text = text.rpartition(":")
        if not sep or not host:
            raise NodeConfigError(flag, f"{text!r} is not HOST:PORT ({example})")
        if ":" in host:
            raise NodeConfigError(
                flag, f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:8000"
            )
        if not _is_ipv4_or_dns_name(host):
            raise NodeConfigError(flag, f"{host!r} is neither an IPv4 address nor a host name")
    if not _DIGITS_RE.fullmatch(port_text) or not 1 <= int(port_text) <= 65535:
        raise NodeConfigError(flag, f"port {port_text!r} is not a number from 1 to 65535")
    return HostPort(host, int(port_text))


def _is_ipv4_or_dns_name(host: str) -> bool:
    labels = host.split(".")
    if all(label.isdigit() for label in labels):
        # Dotted digits can only mean an IPv4 address; reject 999.1.1.1 and 10.1.
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            return False
        return True
    return len(host) <= 253 and all(_HOST_LABEL_RE.fullmatch(label) for label in labels)


def _parse_initial_cluster(text: str) -> tuple[Member, ...]:
    flag = "--initial-cluster"
    members = []
    for item in text.split(","):
        item = item.strip()
        if not item:
            raise NodeConfigError(flag, f"{text!r} has an empty entry; write NAME=HOST:PORT,...")
        name, sep, address = item.partition("=")
        if not sep:
            raise NodeConfigError(flag, f"entry {item!r} is not NAME=HOST:PORT")
        _check_name(flag, name.strip())
        try:
            peer = _parse_host_port(flag, address)
        except NodeConfigError as error:
            raise NodeConfigError(flag, f"member {name.strip()!r}: {error.reason}") from None
        members.append(Member(name.strip(), peer))
    return tuple(members)


def _normalize_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host.lower()


def _listener_serves(listener: HostPort, address: HostPort) -> bool:
    """Whether a socket bound to ``listener`` receives connections made to ``address``
    (as far as can be told without resolving names)."""
    if listener.port != address.port:
        return False
    return listener.is_wildcard or _normalize_host(listener.host) == _normalize_host(address.host)


def _overlaps(a: HostPort, b: HostPort) -> bool:
    """Whether two listeners would compete for the same socket address."""
    if a.port != b.port:
        return False
    return a.is_wildcard or b.is_wildcard or _normalize_host(a.host) == _normalize_host(b.host)
