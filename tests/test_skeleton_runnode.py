"""``manage.py runnode`` as a real process: it serves HTTP, stops cleanly on a
signal, and refuses bad flags with exit status 2 before listening.

Also drives ``consensus.runtime_host.run`` with extra tasks (the way the Raft
node will be plugged in) from a small script, again as a real process.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STARTUP_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0


def free_port(avoid: tuple[str, ...] = ()) -> int:
    """A port free on 127.0.0.1 now, and none named in ``avoid`` (a command
    line whose ports were picked the same way: a port just released is
    often the next one handed out)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if not any(arg.endswith(f":{port}") for arg in avoid):
            return port


def node_env() -> dict[str, str]:
    """The environment of a test's node: none of the caller's
    CONFIG_CENTER_* settings, and no gRPC listener unless the command line
    names one (etcd's default port, 2379, is one port for all the nodes
    that run at once here; ``runnode`` gives each a free one)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_CENTER_")}
    env["CONFIG_CENTER_LISTEN_GRPC"] = "off"
    env["PYTHONUNBUFFERED"] = "1"
    return env


class LoggedProcess(subprocess.Popen):
    """A node whose output goes to files, read back by ``communicate``. A
    pipe that nobody reads while the node runs fills after 64 KiB of log (a
    few hundred requests' lines), and the node then blocks on its next log
    line, for good."""

    def __init__(self, argv: list[str], **options) -> None:
        self._logs = (tempfile.TemporaryFile(mode="w+"), tempfile.TemporaryFile(mode="w+"))
        super().__init__(argv, stdout=self._logs[0], stderr=self._logs[1], text=True, **options)

    def communicate(self, input=None, timeout=None):  # noqa: A002  (Popen's own signature)
        self.wait(timeout)
        return tuple(_read_back(log) for log in self._logs)


def _read_back(log) -> str:
    log.flush()
    log.seek(0)
    return log.read()


def start(argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return LoggedProcess(argv, cwd=REPO, env=env or node_env())


def runnode(*args: str) -> list[str]:
    """The command line of a node; on free peer and gRPC ports unless ``args``
    name them (the defaults, 2380 and 2379, may be taken by another test's
    node or etcd)."""
    if "--listen-peer" not in args and "--initial-cluster" not in args:
        args = (*args, "--listen-peer", f"127.0.0.1:{free_port(avoid=args)}")
    if "--listen-grpc" not in args:
        args = (*args, "--listen-grpc", f"127.0.0.1:{free_port(avoid=args)}")
    return [sys.executable, "manage.py", "runnode", *args]


def get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.headers.get("Content-Type", ""), response.read().decode()


def wait_until_serving(process: subprocess.Popen, base_url: str, *, expect_member: bool = True) -> None:
    """Poll /version until it answers 200 (the process serves HTTP), then, if
    a store member runs here, /health until it has elected itself; fail early
    if the process dies."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            _, stderr = process.communicate()
            pytest.fail(f"node exited with {process.returncode} before serving:\n{stderr}")
        try:
            if get(base_url + "/version")[0] == 200 and (not expect_member or _member_ready(base_url)):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    process.kill()
    _, stderr = process.communicate()
    pytest.fail(f"node did not serve {base_url}/health within {STARTUP_TIMEOUT} s:\n{stderr}")


def _member_ready(base_url: str) -> bool:
    try:
        return get(base_url + "/health")[0] == 200
    except urllib.error.HTTPError:
        return False  # 503 until the member has elected itself


def stop(process: subprocess.Popen, signum: int = signal.SIGTERM) -> tuple[int, str, str]:
    process.send_signal(signum)
    try:
        stdout, stderr = process.communicate(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        _, stderr = process.communicate()
        pytest.fail(f"node did not exit within {STOP_TIMEOUT} s of {signum!r}:\n{stderr}")
    return process.returncode, stdout, stderr


@pytest.fixture
def node(tmp_path):
    """A running node on free ports with a fresh data dir; killed if a test leaves it."""
    port = free_port()
    data_dir = tmp_path / "nested" / "data"
    process = start(
        runnode(
            "--name", "t1",
            "--data-dir", str(data_dir),
            "--listen-client", f"127.0.0.1:{port}",
            "--listen-peer", f"127.0.0.1:{free_port()}",
        )
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base_url)
        yield process, base_url, data_dir
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_runnode_serves_health_and_version_then_stops_cleanly(node, signum):
    process, base_url, data_dir = node

    status, content_type, body = get(base_url + "/health")
    assert (status, content_type) == (200, "application/json")
    assert json.loads(body) == {"health": "true"}

    status, _, body = get(base_url + "/version")
    from config_center import __version__

    assert status == 200
    assert json.loads(body) == {
        "etcdserver": "3.4.0",
        "etcdcluster": "3.4.0",
        "config_center": __version__,
    }
    assert data_dir.is_dir()

    returncode, _, stderr = stop(process, signum)
    assert returncode == 0, stderr
    assert f"received {signal.Signals(signum).name}; stopping" in stderr


def test_index_page_and_its_stylesheet(node):
    process, base_url, _ = node
    status, content_type, body = get(base_url + "/")
    assert status == 200 and content_type.startswith("text/html")
    assert "config_center node" in body
    assert 'href="/health"' in body and 'href="/version"' in body
    assert 'href="/static/css/console.css"' in body

    status, content_type, css = get(base_url + "/static/css/console.css")
    assert status == 200 and content_type.startswith("text/css")
    assert "body" in css

    with pytest.raises(urllib.error.HTTPError) as caught:
        get(base_url + "/no-such-page")
    assert caught.value.code == 404

    code, _, stderr = stop(process)
    assert code == 0, stderr


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--listen-client", "127.0.0.1"], "--listen-client"),
        (["--heartbeat-ms", "100", "--election-ms", "150"], "--election-ms"),
        (["--initial-cluster", "other=127.0.0.1:2380"], "--initial-cluster"),
        (["--snapshot-count", "0"], "--snapshot-count"),
    ],
)
def test_bad_flag_exits_2_naming_the_flag(tmp_path, args, flag):
    process = start(runnode("--data-dir", str(tmp_path / "data"), *args))
    _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode == 2, stderr
    assert flag in stderr
    assert not (tmp_path / "data").exists(), "nothing may be created for a refused configuration"


def test_bad_environment_variable_exits_2_naming_flag_and_variable(tmp_path):
    env = node_env()
    env["CONFIG_CENTER_HEARTBEAT_MS"] = "fast"
    process = start(runnode("--data-dir", str(tmp_path / "data")), env=env)
    _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode == 2, stderr
    assert "--heartbeat-ms (set by CONFIG_CENTER_HEARTBEAT_MS)" in stderr


def test_data_dir_that_is_a_file_exits_2(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("")
    process = start(runnode("--data-dir", str(not_a_dir)))
    _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode == 2, stderr
    assert "--data-dir" in stderr


def test_client_port_in_use_exits_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start(
            runnode(
                "--data-dir", str(tmp_path / "data"),
                "--listen-client", f"127.0.0.1:{port}",
                "--listen-peer", f"127.0.0.1:{free_port()}",
            )
        )
        _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode == 1, stderr
    assert f"could not listen on --listen-client 127.0.0.1:{port}" in stderr


# A host process with extra tasks, as runnode will run the Raft node. The task
# writes marks to a file so the test can see it start and unwind.
HOST_SCRIPT = textwrap.dedent(
    """
    import asyncio, functools, os, sys
    from pathlib import Path

    from consensus import runtime_host
    from consensus.node_config import parse_node_config

    os.environ["DJANGO_SETTINGS_MODULE"] = "config_center.settings"
    import django
    django.setup()
    from config_center.asgi import application

    marks = Path(sys.argv[1])
    mode = sys.argv[3]

    async def worker(label):
        with marks.open("a") as out:
            out.write(f"{label} started\\n")
        try:
            if mode == "fail" and label == "a":
                await asyncio.sleep(0.2)
                raise RuntimeError("worker broke on purpose")
            await asyncio.Event().wait()
        finally:
            with marks.open("a") as out:
                out.write(f"{label} unwound\\n")

    config = parse_node_config({"listen_client": sys.argv[2], "data_dir": sys.argv[4]}, {})
    sys.exit(runtime_host.run(
        config,
        application=application,
        extra_tasks=[functools.partial(worker, "a"), functools.partial(worker, "b")],
    ))
    """
)


def run_host(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, Path, str]:
    script = tmp_path / "host.py"
    script.write_text(HOST_SCRIPT)
    marks = tmp_path / "marks.txt"
    port = free_port()
    env = node_env()
    env["PYTHONPATH"] = str(REPO)
    process = start(
        [sys.executable, str(script), str(marks), f"127.0.0.1:{port}", mode,
         str(tmp_path / "data")],
        env=env,
    )
    return process, marks, f"http://127.0.0.1:{port}"


def test_extra_tasks_run_beside_the_http_server_and_are_cancelled_on_sigterm(tmp_path):
    process, marks, base_url = run_host(tmp_path, "wait")
    try:
        wait_until_serving(process, base_url, expect_member=False)
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not marks.exists() or marks.read_text().count("started") < 2:
            assert time.monotonic() < deadline, "extra tasks did not start"
            time.sleep(0.05)
        returncode, _, stderr = stop(process)
    finally:
        if process.poll() is None:
            process.kill()
    assert returncode == 0, stderr
    assert sorted(marks.read_text().splitlines()) == [
        "a started", "a unwound", "b started", "b unwound",
    ]


def test_failing_extra_task_stops_the_node_with_status_1(tmp_path):
    process, marks, _ = run_host(tmp_path, "fail")
    try:
        _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 1, stderr
    assert "failed; stopping the node" in stderr
    assert "worker broke on purpose" in stderr
    # The first failure cancels the other task, which still unwinds.
    assert marks.read_text().count("unwound") == 2


def test_websocket_handshakes_reach_channels(node):
    """The server speaks websockets and hands them to Channels; with no
    consumer on the path, Channels refuses the handshake (403), not the server."""
    import asyncio

    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    _, base_url, _ = node
    url = base_url.replace("http://", "ws://") + "/ws/v1/nothing-here"

    async def attempt():
        with pytest.raises(InvalidStatus) as refused:
            async with connect(url, open_timeout=10):
                pass
        return refused.value.response.status_code

    assert asyncio.run(attempt()) == 403
