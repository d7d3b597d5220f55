"""From a node's flags and data dir to the member it runs as.

Three cases, as in etcd:

- the data dir holds an identity (``member/identity.json``): a restart. The
  flags that describe the initial cluster are ignored; the member is who it
  was, and its peers come from its log and store.
- ``--initial-cluster-state new`` and no identity: a new cluster. Every
  member of ``--initial-cluster`` gets an ID derived from its name, its peer
  address and ``--initial-cluster-token``, so all members agree without
  talking; they are the Raft bootstrap voters.
- ``--initial-cluster-state existing`` and no identity: joining a running
  cluster after ``member add``. The member asks the members it is given
  which ID was added for its peer address (``discover``), and starts with an
  empty log that the leader fills (by snapshot, then entries).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Awaitable, Callable

from consensus.member import ClusterSetup
from consensus.member_identity import (
    IdentityError,
    MemberIdentity,
    cluster_id_of,
    initial_member_id,
    load_or_create_secret,
)
from consensus.node_config import ClusterState, NodeConfig

from .members import MemberInfo, normalize_peer_url


@dataclass(frozen=True)
class ResolvedMember:
    identity: MemberIdentity
    bootstrap_voters: tuple[int, ...]  # empty unless this start bootstraps a new cluster
    setup: ClusterSetup


# (peer addresses to ask, this member's peer URL, secret) -> (member id, cluster id)
Discover = Callable[[list[tuple[str, int]], str, bytes], Awaitable[tuple[int, int]]]


def client_url(config: NodeConfig) -> str:
    return f"http://{config.listen_client}"


async def resolve_member(config: NodeConfig, member_dir: Path, *, discover: Discover | None = None) -> ResolvedMember:
    """Who this node is and how it reaches its peers. Raises IdentityError
    with a message naming the flag to fix."""
    me = config.member
    assert me is not None  # NodeConfig guarantees it
    own_peer_url = normalize_peer_url(str(me.peer))
    secret = load_or_create_secret(
        config.data_dir, config.cluster_secret_file, may_create=len(config.initial_cluster) == 1,
    )
    initial_ids = {
        m.name: initial_member_id(m.name, normalize_peer_url(str(m.peer)), config.initial_cluster_token)
        for m in config.initial_cluster
    }
    others = [m for m in config.initial_cluster if m.name != config.name]
    identity = MemberIdentity.load(member_dir)
    bootstrap: tuple[int, ...] = ()
    initial_peers: dict[int, tuple[str, int]] = {}
    if identity is None:
        if config.initial_cluster_state is ClusterState.NEW:
            bootstrap = tuple(initial_ids.values())
            identity = MemberIdentity(
                name=config.name, member_id=initial_ids[config.name],
                cluster_id=cluster_id_of(list(bootstrap), config.initial_cluster_token),
            )
        else:
            if not others:
                raise IdentityError(
                    "--initial-cluster: joining an existing cluster needs the addresses of its "
                    "members besides this one"
                )
            if discover is None:
                raise IdentityError("--initial-cluster-state existing is not supported by this build")
            member_id, cluster_id = await discover(
                [(m.peer.host, m.peer.port) for m in others], own_peer_url, secret,
            )
            identity = MemberIdentity(name=config.name, member_id=member_id, cluster_id=cluster_id)
        identity.save(member_dir)
        if config.initial_cluster_state is ClusterState.NEW:
            initial_peers = {initial_ids[m.name]: (m.peer.host, m.peer.port) for m in others}
    elif identity.name != config.name:
        raise IdentityError(
            f"--name: the data dir {config.data_dir} belongs to member {identity.name!r}, "
            f"not {config.name!r}; use --name {identity.name} or another data dir"
        )
    if not initial_peers:
        # Restart or join: members named in the flag are a good first guess
        # for where peers are (their IDs as a new cluster would have them);
        # the member records in the store correct it once known.
        initial_peers = {
            initial_ids[m.name]: (m.peer.host, m.peer.port) for m in others
            if initial_ids[m.name] != identity.member_id
        }
    setup = ClusterSetup(
        cluster_id=identity.cluster_id,
        secret=secret,
        cluster_token=config.initial_cluster_token,
        listen_peer=(config.listen_peer.host, config.listen_peer.port),
        self_info=MemberInfo(
            id=identity.member_id, name=config.name, peer_urls=(own_peer_url,), client_urls=(client_url(config),),
            grpc_urls=(f"http://{config.listen_grpc}",) if config.listen_grpc is not None else (),
        ),
        initial_peers=initial_peers,
    )
    return ResolvedMember(identity=identity, bootstrap_voters=bootstrap, setup=setup)
