"""Membership from the operator's side: list, add, remove and promote
members through ``/v3/cluster/member/*``, and the command line that starts a
member just added.

IDs are printed in hex, as etcdctl prints them, and in decimal, as the JSON
API carries them. An ID given by the operator may be either: it is read
both ways and matched against the current members, so it is never
ambiguous in practice (a string of digits that names one member in hex and
another in decimal is refused, asking for a ``0x`` prefix).

Adding a member, as in etcd, only tells the cluster to expect it; the
member itself is started afterwards on its host with
``--initial-cluster-state existing`` and an ``--initial-cluster`` naming
every member with its peer address, itself included (``AddedMember.command``).
It learns its ID from the cluster over the peer port. A voter added this
way counts toward the quorum at once, so add a learner, start it, let it
catch up, then promote it (promotion is refused until it is nearly caught up).
"""
from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass
from typing import Sequence

from consensus.cluster.members import InvalidPeerURLError, normalize_peer_url
from consensus.node_config import NodeConfigError, parse_node_config

from .client import GatewayClient, parse_endpoint
from .errors import AdminError, GatewayError, UsageError
from .table import render_table

LIST_PATH = "/v3/cluster/member/list"
ADD_PATH = "/v3/cluster/member/add"
REMOVE_PATH = "/v3/cluster/member/remove"
PROMOTE_PATH = "/v3/cluster/member/promote"
MOVE_LEADER_PATH = "/v3/maintenance/transfer-leadership"
STATUS_PATH = "/api/v1/cluster/status"

# Shown in the start command for what only the operator knows.
PLACEHOLDER_DATA_DIR = "DATA_DIR"
PLACEHOLDER_CLIENT = "CLIENT_HOST:PORT"
PLACEHOLDER_SECRET = "SECRET_FILE"

_WILDCARD_HOSTS = {"0.0.0.0", "[::]", "::"}
_HEX = re.compile(r"[0-9a-f]+")
_DECIMAL = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class Member:
    """One member as ``/v3/cluster/member/list`` describes it."""

    id: int
    name: str
    peer_urls: tuple[str, ...]
    client_urls: tuple[str, ...]
    is_learner: bool

    @classmethod
    def from_json(cls, obj: dict) -> "Member":
        return cls(
            id=int(obj["ID"]), name=obj.get("name", ""), peer_urls=tuple(obj.get("peerURLs", ())),
            client_urls=tuple(obj.get("clientURLs", ())), is_learner=bool(obj.get("isLearner", False)),
        )

    @property
    def hex_id(self) -> str:
        return format(self.id, "x")

    @property
    def label(self) -> str:
        return f"{self.name or '(unstarted)'} ({self.hex_id})"


def _members_of(answer: dict) -> list[Member]:
    return [Member.from_json(m) for m in answer.get("members", [])]


def list_members(client: GatewayClient) -> list[Member]:
    """Every member, voters and learners, in ID order (a linearizable read
    on the member asked)."""
    return sorted(_members_of(client.post(LIST_PATH, {})), key=lambda m: m.id)


def member_table(members: Sequence[Member]) -> str:
    rows = [
        (m.hex_id, m.id, m.name or "(not started)", ",".join(m.peer_urls) or "-", ",".join(m.client_urls) or "-",
         "yes" if m.is_learner else "no")
        for m in members
    ]
    return render_table(("ID", "ID (DECIMAL)", "NAME", "PEER URLS", "CLIENT URLS", "LEARNER"), rows)


def resolve_member_id(text: str, members: Sequence[Member], argument: str = "ID") -> Member:
    """The member ``text`` names, in hex (``0x`` optional) or decimal
    (module docstring); ``UsageError`` naming ``argument`` if none or two."""
    raw = text.strip().lower()
    readings: set[int] = set()
    if raw.startswith("0x"):
        if _HEX.fullmatch(raw[2:]):
            readings.add(int(raw[2:], 16))
    else:
        if _DECIMAL.fullmatch(raw):
            readings.add(int(raw))
        if _HEX.fullmatch(raw):
            readings.add(int(raw, 16))
    readings = {value for value in readings if 0 < value < 1 << 64}
    if not readings:
        raise UsageError(argument, f"{text!r} is not a member ID; give it in hex (as 'member list' shows it) or decimal")
    found = [m for m in members if m.id in readings]
    if len(found) > 1:
        raise UsageError(
            argument, f"{text!r} names {found[0].label} read one way and {found[1].label} the other; "
                      f"write 0x{found[0].hex_id} or 0x{found[1].hex_id}",
        )
    if not found:
        known = ", ".join(m.label for m in members) or "none"
        raise UsageError(argument, f"no member has the ID {text!r}; the members are: {known}")
    return found[0]


# -- add ---------------------------------------------------------------------------------


def _host_port(peer_url: str) -> str:
    return peer_url.split("://", 1)[1] if "://" in peer_url else peer_url


def check_new_member(name: str, peer_url: str) -> str:
    """The normalized peer URL (``tcp://host:port``) of a member to add;
    ``UsageError`` for a name or address runnode would refuse."""
    try:
        normalized = normalize_peer_url(peer_url)
    except InvalidPeerURLError:
        raise UsageError("--peer-url", f"{peer_url!r} is not HOST:PORT (the address the new member's peers dial)") from None
    host_port = _host_port(normalized)
    host = host_port.rsplit(":", 1)[0]
    if host in _WILDCARD_HOSTS:
        raise UsageError("--peer-url", f"{peer_url!r} is a wildcard address, which other members cannot dial")
    port = int(host_port.rsplit(":", 1)[1])
    # What the new member's runnode will check: its name and its address.
    try:
        parse_node_config(
            {"name": name, "listen_peer": host_port, "listen_client": f"127.0.0.1:{1 if port != 1 else 2}"}, {},
        )
    except NodeConfigError as error:
        raise UsageError("--name" if error.flag == "--name" else "--peer-url", error.reason) from None
    return normalized


@dataclass(frozen=True)
class AddedMember:
    """The member added, every member after the change, and how to start
    the new one: ``command`` (argv) or ``environment`` (runnode's variables
    for the same flags); ``unnamed``: other members not started yet, which
    the start command cannot name and leaves out."""

    member: Member
    members: tuple[Member, ...]
    cluster_id: int
    initial_cluster: str
    command: tuple[str, ...]
    environment: dict
    unnamed: tuple[Member, ...]


def add_member(client: GatewayClient, *, name: str, peer_url: str, learner: bool, data_dir: str | None = None,
               listen_client: str | None = None, secret_file: str | None = None,
               cluster_token: str | None = None) -> AddedMember:
    """Add a member (a learner if ``learner``) that will run as ``name``
    with peers dialing ``peer_url``. The optional values only fill in the
    start command (placeholders otherwise). Refuses, before asking the
    cluster to change, a name or peer URL a member already has."""
    normalized = check_new_member(name, peer_url)
    if listen_client is not None:
        parse_endpoint(listen_client, "--listen-client")
    before = list_members(client)
    for m in before:
        if m.name == name:
            raise UsageError("--name", f"member {m.label} already has the name {name!r}")
        if normalized in m.peer_urls:
            raise UsageError("--peer-url", f"{normalized} is already the peer URL of member {m.label}")
    host_port = _host_port(normalized)
    answer = client.post(ADD_PATH, {"peerURLs": [host_port], "isLearner": learner}, idempotent=False)
    added = Member.from_json(answer["member"])
    members = tuple(sorted(_members_of(answer), key=lambda m: m.id))
    entries, unnamed = [], []
    for m in members:
        member_name = name if m.id == added.id else m.name
        if not member_name:
            unnamed.append(m)
            continue
        entries.extend(f"{member_name}={_host_port(url)}" for url in m.peer_urls[:1])
    initial_cluster = ",".join(entries)
    command = [
        "python", "manage.py", "runnode", "--name", name,
        "--data-dir", data_dir or PLACEHOLDER_DATA_DIR,
        "--listen-client", listen_client or PLACEHOLDER_CLIENT,
        "--listen-peer", host_port,
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "existing",
    ]
    if cluster_token is not None:
        command += ["--initial-cluster-token", cluster_token]
    command += ["--cluster-secret-file", secret_file or PLACEHOLDER_SECRET]
    environment = {
        "CONFIG_CENTER_NAME": name,
        "CONFIG_CENTER_INITIAL_CLUSTER": initial_cluster,
        "CONFIG_CENTER_INITIAL_CLUSTER_STATE": "existing",
        "CONFIG_CENTER_LISTEN_PEER": host_port,
    }
    return AddedMember(
        member=added, members=members, cluster_id=int(answer.get("header", {}).get("cluster_id", 0)),
        initial_cluster=initial_cluster, command=tuple(command), environment=environment, unnamed=tuple(unnamed),
    )


def join_instructions(added: AddedMember) -> str:
    """What to print after an add: the new ID, and how to start the member."""
    m = added.member
    kind = "learner" if m.is_learner else "voting member"
    lines = [
        f"Member {m.hex_id} (decimal {m.id}) added to cluster {added.cluster_id:x} as a {kind}.",
        "",
        "Start it on its host, with an empty data dir:",
        "",
        "  " + shlex.join(added.command),
        "",
        "or with these environment variables for the same flags:",
        "",
        *(f"  {name}={shlex.quote(value)}" for name, value in added.environment.items()),
        "",
    ]
    placeholders = [p for p in (PLACEHOLDER_DATA_DIR, PLACEHOLDER_CLIENT, PLACEHOLDER_SECRET) if p in added.command]
    if placeholders:
        lines.append(
            f"Replace {', '.join(placeholders)} (the secret file is the one every member runs with). "
        )
    lines.append(
        "Also pass the flags every member of this cluster runs with (--initial-cluster-token, --store-auth, "
        "--heartbeat-ms, --election-ms); behind a proxy, --listen-peer is the local address and "
        "--advertise-peer the one above."
    )
    if added.unnamed:
        lines.append(
            "Left out of --initial-cluster: members not started yet, without a name: "
            + ", ".join(u.hex_id for u in added.unnamed) + "."
        )
    if m.is_learner:
        lines.append(f"Once it has caught up: python manage.py member promote {m.hex_id}")
    return "\n".join(lines)


# -- remove and promote -----------------------------------------------------------------


def remove_member(client: GatewayClient, id_text: str) -> tuple[Member, list[Member]]:
    """Remove the member ``id_text`` names; ``(removed, members after)``."""
    target = resolve_member_id(id_text, list_members(client))
    answer = client.post(REMOVE_PATH, {"ID": str(target.id)}, idempotent=False)
    return target, sorted(_members_of(answer), key=lambda m: m.id)


def leader_client(client: GatewayClient) -> GatewayClient:
    """A client of the leader's client URL, found with ``/api/v1/cluster/status``
    (asked of ``client``'s endpoints)."""
    status = client.get(STATUS_PATH)
    leader = int(status.get("leader", 0) or 0)
    if not leader:
        raise AdminError(f"{client.endpoint} knows of no leader right now; try again once one is elected")
    entry = next((m for m in status.get("members", []) if int(m.get("id", 0)) == leader), None)
    urls = entry.get("client_urls", []) if entry else []
    if not urls:
        raise AdminError(f"the leader {leader:x} has not published its client URL yet; try again shortly")
    return client.for_endpoint(parse_endpoint(urls[0], "the leader's client URL"))


def promote_member(client: GatewayClient, id_text: str, *, attempts: int = 3) -> tuple[Member, list[Member]]:
    """Promote the learner ``id_text`` names, asking the leader (found with
    the cluster status; looked up again if leadership moved meanwhile)."""
    target = resolve_member_id(id_text, list_members(client))
    if not target.is_learner:
        raise UsageError("ID", f"member {target.label} is a voting member already; only a learner can be promoted")
    for attempt in range(1, attempts + 1):
        leader = leader_client(client)
        try:
            answer = leader.post(PROMOTE_PATH, {"ID": str(target.id)}, idempotent=False)
        except GatewayError as error:
            if error.code == 14 and "leader" in error.text and attempt < attempts:
                time.sleep(0.5)  # leadership moved between the status and the request
                continue
            raise
        members = sorted(_members_of(answer), key=lambda m: m.id)
        promoted = next((m for m in members if m.id == target.id), target)
        return promoted, members
    raise AssertionError("unreachable")


def move_leader(client: GatewayClient, id_text: str, *, attempts: int = 3) -> Member:
    """Hand leadership to the voter ``id_text`` names (etcd's MoveLeader,
    sent to the leader as etcdctl's ``move-leader`` does); the new leader."""
    target = resolve_member_id(id_text, list_members(client))
    if target.is_learner:
        raise UsageError("ID", f"member {target.label} is a learner; only a voting member can lead")
    for attempt in range(1, attempts + 1):
        leader = leader_client(client)
        try:
            leader.post(MOVE_LEADER_PATH, {"targetID": str(target.id)}, idempotent=False)
        except GatewayError as error:
            if error.code == 9 and "not leader" in error.text and attempt < attempts:
                time.sleep(0.5)  # leadership moved between the status and the request
                continue
            raise
        return target
    raise AssertionError("unreachable")
