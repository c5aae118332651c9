"""JupyterLab with nbgrader's formgrader on 127.0.0.1, and headless Chromium, for the browser tests.

The server runs with a random token, its own Jupyter config and data folders (so a user's
settings cannot change what the test sees) and is always stopped, children included.
"""

import contextlib
import dataclasses
import os
import pathlib
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import psutil

LOCALHOST = "127.0.0.1"
CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = ("install it with `make browser` (as root; it runs `apt-get install chromium fonts-liberation`) "
                "or `sudo apt-get install chromium fonts-liberation`, then `make install` for Playwright")
REPOSITORY = pathlib.Path(__file__).resolve().parents[2]
ARTIFACTS = REPOSITORY / "test-artifacts" / "browser"


def find_chromium(search_path=None):
    """The path of Debian's Chromium; FileNotFoundError saying how to install it when there is none."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name, path=search_path)
        if found:
            return found
    raise FileNotFoundError(f"Chromium ({' or '.join(CHROMIUM_NAMES)}) is not on PATH: {INSTALL_HINT}")


def artifact_folder(name, root=ARTIFACTS):
    """An empty folder root/name for one test's screenshots and logs, kept after the test."""
    if not name or "/" in name or name in (".", ".."):
        raise ValueError(f"artefact folder name {name!r} must be a single folder name")
    folder = pathlib.Path(root) / name
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((LOCALHOST, 0))
        return probe.getsockname()[1]


def jupyter_environment(folder):
    """os.environ with private Jupyter config, data and runtime folders under folder (created), and this
    virtualenv's scripts first on PATH (nbgrader runs `alembic` from there)."""
    scripts = os.path.dirname(sys.executable)
    environment = dict(os.environ, PATH=scripts + os.pathsep + os.environ.get("PATH", ""))
    for variable, name in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                           ("JUPYTER_RUNTIME_DIR", "runtime")):
        path = pathlib.Path(folder) / name
        path.mkdir(parents=True, exist_ok=True)
        environment[variable] = str(path)
    environment.pop("JUPYTER_TOKEN", None)
    return environment


@dataclasses.dataclass(frozen=True)
class Server:
    """A running Jupyter server: its base URL (no trailing slash), token and process."""

    url: str
    token: str
    process: subprocess.Popen

    def listening_addresses(self):
        """The (ip, port) pairs the server and its children listen on."""
        addresses = set()
        try:
            root = psutil.Process(self.process.pid)
            processes = [root] + root.children(recursive=True)
        except psutil.NoSuchProcess:
            return addresses
        for process in processes:
            with contextlib.suppress(psutil.Error):
                for connection in process.net_connections(kind="inet"):
                    if connection.status == psutil.CONN_LISTEN:
                        addresses.add((connection.laddr.ip, connection.laddr.port))
        return addresses


def _wait_until_ready(url, token, process, log_path, timeout):
    """Poll the server's status API until it answers; RuntimeError with the log's end if it exits or times out."""
    deadline = time.monotonic() + timeout
    request = urllib.request.Request(f"{url}/api/status", headers={"Authorization": f"token {token}"})
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    state = f"exited with status {process.returncode}" if process.poll() is not None else f"not ready in {timeout} s"
    log_tail = pathlib.Path(log_path).read_text(errors="replace")[-3000:]
    raise RuntimeError(f"JupyterLab at {url} {state}; end of {log_path}:\n{log_tail}")


def stop_process_group(process, grace_seconds=10):
    """Stop a process started with start_new_session=True and everything it started: SIGTERM, then SIGKILL."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_seconds)
        except subprocess.TimeoutExpired:
            pass
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # children left behind by a server that did exit
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(grace_seconds)


@contextlib.contextmanager
def jupyter_lab(root, log_path, environment, timeout=90):
    """JupyterLab serving root (also its working folder) on 127.0.0.1 with a random token, stopped on exit."""
    token = secrets.token_hex(24)
    port = free_port()
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--ServerApp.ip={LOCALHOST}",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
               f"--ServerApp.root_dir={root}", "--ServerApp.allow_remote_access=False",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if os.geteuid() == 0:
        command.append("--ServerApp.allow_root=True")  # CI containers run as root; the server stays on 127.0.0.1
    with open(log_path, "wb") as log:
        process = subprocess.Popen(command, cwd=root, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   env=environment, start_new_session=True)
    try:
        url = f"http://{LOCALHOST}:{port}"
        _wait_until_ready(url, token, process, log_path, timeout)
        yield Server(url, token, process)
    finally:
        stop_process_group(process)
