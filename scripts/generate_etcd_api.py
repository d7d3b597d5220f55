"""Generate the Python modules of etcd 3.4's v3 API from etcd's own .proto files.

Run by ``scripts/setup.sh`` with the project's interpreter; idempotent (a
stamp file records what was generated from what, and a second run with
nothing changed does nothing).

Where the definitions come from: Debian's ``golang-etcd-server-dev``
(etcd 3.4.23: ``rpc.proto``, ``kv.proto``, ``auth.proto``) and
``golang-github-gogo-protobuf-dev`` (``gogo.proto``, which those import for
Go-only options). Installing either would pull in about 150 Go packages, so
the two ``.deb`` files are fetched with ``apt-get download`` into
``.venv/etcd-api/`` and unpacked there with ``dpkg -x``. ``google/api/
annotations.proto`` (the gateway's HTTP bindings) comes from the
``googleapis-common-protos`` wheel, protobuf's own from ``grpcio-tools``.

What is generated: ``consensus/grpc/etcdpb/`` (ignored by git), one module
per file, ``*_pb2.py`` and, for ``rpc.proto``, ``rpc_pb2_grpc.py``. Compiled
as they are, the files would become top-level ``etcd`` and ``gogoproto``
packages, which collide with other libraries carrying etcd's protos. So the
files are staged under the path of that folder first, with their imports
rewritten to match; the proto *packages* (``etcdserverpb``, ``mvccpb``,
``authpb``) are left as they are, so every method path is etcd's
(``/etcdserverpb.KV/Range``) and every message's wire form too.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".venv" / "etcd-api"
PACKAGE = "consensus/grpc/etcdpb"
OUTPUT = ROOT / PACKAGE
STAMP = OUTPUT / ".generated-from"

DEBS = ("golang-etcd-server-dev", "golang-github-gogo-protobuf-dev")
GOCODE = "usr/share/gocode/src"
# source in the unpacked packages -> (staged path under PACKAGE, the import path other files use for it)
SOURCES = {
    f"{GOCODE}/github.com/gogo/protobuf/gogoproto/gogo.proto": ("gogoproto/gogo.proto", "gogoproto/gogo.proto"),
    f"{GOCODE}/go.etcd.io/etcd/mvcc/mvccpb/kv.proto": ("mvccpb/kv.proto", "etcd/mvcc/mvccpb/kv.proto"),
    f"{GOCODE}/go.etcd.io/etcd/auth/authpb/auth.proto": ("authpb/auth.proto", "etcd/auth/authpb/auth.proto"),
    f"{GOCODE}/go.etcd.io/etcd/etcdserver/etcdserverpb/rpc.proto": ("etcdserverpb/rpc.proto", None),
}


def say(message: str) -> None:
    print(f"setup: {message}", file=sys.stderr)


def unpacked_sources() -> Path:
    """The folder the two packages are unpacked in, fetching them if needed."""
    unpacked = CACHE / "root"
    if all((unpacked / source).is_file() for source in SOURCES):
        return unpacked
    CACHE.mkdir(parents=True, exist_ok=True)
    for deb in DEBS:
        if not any(CACHE.glob(f"{deb}_*.deb")):
            say(f"fetching {deb} (etcd's API definitions) with apt-get download")
            # (apt warns that it downloads as root, not as _apt: harmless here)
            fetched = subprocess.run(["apt-get", "download", "-q", deb], cwd=CACHE, capture_output=True, text=True)
            if fetched.returncode != 0:
                raise SystemExit(f"setup: error: apt-get download {deb} failed:\n{fetched.stderr}")
    for deb_file in CACHE.glob("*.deb"):
        subprocess.run(["dpkg", "-x", str(deb_file), str(unpacked)], check=True)
    missing = [source for source in SOURCES if not (unpacked / source).is_file()]
    if missing:
        raise SystemExit(f"setup: error: the Debian packages lack {', '.join(missing)}")
    return unpacked


def staged_text(text: str) -> str:
    for _, (staged, imported_as) in SOURCES.items():
        if imported_as is not None:
            text = text.replace(f'import "{imported_as}";', f'import "{PACKAGE}/{staged}";')
    return text


def fingerprint(unpacked: Path) -> str:
    import grpc_tools  # noqa: PLC0415 (installed by then)
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update(getattr(grpc_tools, "__version__", "").encode())
    from importlib.metadata import version  # noqa: PLC0415
    digest.update(version("grpcio-tools").encode())
    for source in SOURCES:
        digest.update((unpacked / source).read_bytes())
    return digest.hexdigest()


def main() -> None:
    unpacked = unpacked_sources()
    want = fingerprint(unpacked)
    if STAMP.is_file() and STAMP.read_text().strip() == want:
        return
    say("generating etcd's v3 API modules into " + PACKAGE)
    import grpc_tools  # noqa: PLC0415
    from grpc_tools import protoc  # noqa: PLC0415
    from google.api import annotations_pb2  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as staging_dir, tempfile.TemporaryDirectory() as out_dir:
        staging = Path(staging_dir)
        for source, (staged, _) in SOURCES.items():
            target = staging / PACKAGE / staged
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(staged_text((unpacked / source).read_text()))
        includes = [
            str(staging),
            str(Path(grpc_tools.__file__).parent / "_proto"),
            str(Path(annotations_pb2.__file__).parent.parent.parent),  # site-packages: google/api/*.proto
        ]
        protos = [f"{PACKAGE}/{staged}" for staged, _ in SOURCES.values()]
        arguments = ["protoc", *(f"-I{path}" for path in includes), f"--python_out={out_dir}",
                     f"--pyi_out={out_dir}", *protos]
        if protoc.main(arguments) != 0:
            raise SystemExit("setup: error: protoc failed on etcd's .proto files")
        if protoc.main(["protoc", *(f"-I{path}" for path in includes), f"--grpc_python_out={out_dir}",
                        f"{PACKAGE}/etcdserverpb/rpc.proto"]) != 0:
            raise SystemExit("setup: error: protoc failed on etcd's services")
        generated = Path(out_dir) / PACKAGE
        for folder in [generated, *(p for p in generated.rglob("*") if p.is_dir())]:
            (folder / "__init__.py").touch()
        if OUTPUT.exists():
            shutil.rmtree(OUTPUT)
        shutil.copytree(generated, OUTPUT)
    (OUTPUT / "README").write_text(
        "Generated by scripts/generate_etcd_api.py from etcd 3.4's .proto files; not committed.\n")
    STAMP.write_text(want + "\n")


if __name__ == "__main__":
    os.chdir(ROOT)
    main()
