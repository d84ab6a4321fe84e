"""Jobs that start in milliseconds: a fork server that has imported torch and the package once, and forks a child for
each `python -m lossland <kind>` command on this machine, instead of every job paying ~1.7 s of imports.

`python -m lossland ...` (__main__.py) asks the server of its interpreter and package (one per user, started on
first use, detached, gone after IDLE_SECONDS without jobs) to run its arguments; the child takes the command's working
directory, environment and standard streams (passed over the Unix socket), so it writes the job's log as the command
would and computes the same bits. The command waits for it and exits with its status; a signal it gets (SIGTERM,
SIGINT, SIGHUP) is passed on to the child, and where the command dies (SIGKILL) the server kills the child at once,
so a job killed is a job stopped. A server whose package sources changed since it started is replaced.

Off inside a SLURM job (a child must run in its job's own allocation), off outside Linux, off with
LOSSLAND_FORKSERVER=0; wherever the server cannot be reached the command simply runs itself.
"""

import array
import hashlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import time
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
IDLE_SECONDS = 120
FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def enabled() -> bool:
    return (sys.platform == "linux" and os.environ.get("LOSSLAND_FORKSERVER", "1") != "0"
            and not os.environ.get("SLURM_JOB_ID"))


def sources_stamp() -> list:
    """What the server's imports were read from: where a file changed, its children would run stale code."""
    return sorted((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in PACKAGE.glob("*.py"))


IMPORT_TIME_ENV = ("OMP_", "MKL_", "KMP_", "GOMP_", "OPENBLAS_", "ONEDNN_", "DNNL_", "PYTORCH_", "TORCH_", "PYTHON")


def address() -> Path:
    """The socket of the server for this interpreter, package, and the environment read at import time."""
    env = sorted((k, v) for k, v in os.environ.items() if k.startswith(IMPORT_TIME_ENV))
    key = json.dumps([sys.executable, str(PACKAGE), env])
    name = f"lossland-forkserver-{os.getuid()}/{hashlib.sha256(key.encode()).hexdigest()[:16]}.sock"
    runtime = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(runtime if len(runtime) + len(name) < 100 else "/tmp") / name  # a socket's name: at most 107 bytes


# ---- the message framing: a 4-byte length, then JSON; the first message of a request carries three fds


def send(sock: socket.socket, message: dict, fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    frame = struct.pack("!I", len(data)) + data
    if fds:
        sock.sendmsg([frame], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds))])
    else:
        sock.sendall(frame)


def receive(sock: socket.socket, with_fds: bool = False) -> tuple[dict | None, list[int]]:
    """One message (None at end of stream) and the fds that came with it."""
    fds = array.array("i")
    header = b""
    while len(header) < 4:
        if with_fds and not header:
            chunk, ancillary, _, _ = sock.recvmsg(4, socket.CMSG_LEN(3 * fds.itemsize))
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                    fds.frombytes(payload[: len(payload) - len(payload) % fds.itemsize])
        else:
            chunk = sock.recv(4 - len(header))
        if not chunk:
            return None, list(fds)
        header += chunk
    (size,) = struct.unpack("!I", header)
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None, list(fds)
        data += chunk
    return json.loads(data), list(fds)


# ---- the command's side


def run_in_server(argv: list[str]) -> int | None:
    """Run `python -m lossland *argv` in the server; its exit status, or None where no server could take it."""
    for _ in range(2):  # a server whose sources changed refuses: the second try starts a fresh one
        try:
            sock = connect()
        except OSError:
            return None
        with sock:
            try:
                send(sock, {"argv": argv, "cwd": os.getcwd(), "env": dict(os.environ), "path": sys.path}, [0, 1, 2])
                sock.settimeout(30)
                reply, _ = receive(sock)
            except OSError:
                return None
            if reply is None:
                return None
            if "pid" in reply:
                return wait_for(sock, reply["pid"])
    return None


def wait_for(sock: socket.socket, child: int) -> int:
    for signum in FORWARDED:
        signal.signal(signum, lambda signum, _: os.kill(child, signum))
    sock.settimeout(None)
    try:
        reply, _ = receive(sock)
    except OSError:
        reply = None
    if reply is None:  # the server died under the job: stop the child rather than leave it running unseen
        try:
            os.kill(child, signal.SIGKILL)
        except ProcessLookupError:
            pass
        print("error: the lossland fork server stopped during the job: rerun it", file=sys.stderr)
        return 1
    if reply["signal"]:  # die of the same signal, as the job itself did
        signal.signal(reply["signal"], signal.SIG_DFL)
        os.kill(os.getpid(), reply["signal"])
    return reply["status"]


def connect() -> socket.socket:
    """A connection to the running server, which is started (under a lock, once) where none answers."""
    path = address()
    try:
        return _connected(path)
    except OSError:
        pass
    import fcntl
    import subprocess

    path.parent.mkdir(mode=0o700, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return _connected(path)
        except OSError:
            pass
        path.unlink(missing_ok=True)
        subprocess.Popen([sys.executable, "-m", "lossland.forkserver", str(path)], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                return _connected(path)
            except OSError:
                time.sleep(0.02)
    raise OSError("the fork server did not start")


def _connected(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(path))
    except OSError:
        sock.close()
        raise
    return sock


# ---- the server's side


def preload() -> None:
    """What every job would import: torch, the scientific stack and every module of the package."""
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    for module in ("torch", "numpy", "scipy.sparse.linalg", "scipy.optimize", "pandas", "matplotlib.pyplot"):
        importlib.import_module(module)
    for source in sorted(PACKAGE.glob("*.py")):
        if source.stem not in ("__main__", "forkserver"):
            importlib.import_module(f"lossland.{source.stem}")


def child(request: dict, fds: list[int], inherited: list) -> None:
    """In the forked child: become the command (its directory, environment, path, streams) and run it; never
    returns."""
    status = 1
    try:
        for resource in inherited:  # the server's sockets: a child holding them would hide the server's death
            resource.close()
        for signum in FORWARDED:
            signal.signal(signum, signal.SIG_DFL)
        for target, fd in enumerate(fds):
            os.dup2(fd, target)
            os.close(fd)
        sys.stdin, sys.stdout, sys.stderr = (os.fdopen(0, "r", closefd=False), os.fdopen(1, "w", 1, closefd=False),
                                             os.fdopen(2, "w", 1, closefd=False))
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.path[:] = request["path"]
        sys.argv = [sys.argv[0], *request["argv"]]
        from .cli import main

        status = main(request["argv"])
    except SystemExit as exit:
        status = exit.code if isinstance(exit.code, int) else (0 if exit.code is None else 1)
    except BaseException:
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(int(status or 0))


def serve(path: Path) -> None:
    """Accept commands until IDLE_SECONDS pass without a job, or until the package's sources change (then refuse
    new ones, finish the running ones and go)."""
    stamp = sources_stamp()
    preload()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(f"{path}.{os.getpid()}")
    listener.listen(64)
    os.replace(f"{path}.{os.getpid()}", path)  # connectable only once listening
    ours = os.stat(path).st_ino
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    jobs: dict[int, socket.socket] = {}  # child pid -> its command's connection
    accepting, idle_since = True, time.monotonic()
    while accepting or jobs:
        for key, _ in selector.select(timeout=0.05):
            if key.fileobj is listener:
                connection, _ = listener.accept()
                connection.settimeout(10)
                try:
                    request, fds = receive(connection, with_fds=True)
                except OSError:
                    request, fds = None, []
                if request is None or len(fds) != 3 or sources_stamp() != stamp:
                    for fd in fds:
                        os.close(fd)
                    if request is not None and sources_stamp() != stamp:
                        send(connection, {"stale": True})
                        accepting = False
                        selector.unregister(listener)
                        forget(path, ours)
                    connection.close()
                    continue
                connection.settimeout(None)
                pid = os.fork()
                if pid == 0:
                    child(request, fds, [listener, selector, connection, *jobs.values()])
                for fd in fds:
                    os.close(fd)
                jobs[pid] = connection
                selector.register(connection, selectors.EVENT_READ, pid)
                send(connection, {"pid": pid})
            else:  # a command's connection readable: it died (end of stream), so its job is stopped
                selector.unregister(key.fileobj)
                try:
                    os.kill(key.data, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        reap(jobs, selector)
        if jobs:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since > IDLE_SECONDS:
            break
    forget(path, ours)
    listener.close()


def reap(jobs: dict, selector: selectors.BaseSelector) -> None:
    """Each finished child's status to its command."""
    while jobs:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        connection = jobs.pop(pid)
        if connection in (key.fileobj for key in selector.get_map().values()):
            selector.unregister(connection)
        try:
            send(connection, {"status": os.waitstatus_to_exitcode(status),
                              "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0})
        except OSError:
            pass
        connection.close()


def forget(path: Path, ours: int) -> None:
    """Remove the socket's name where it is still this server's (a newer server may have taken it)."""
    try:
        if os.stat(path).st_ino == ours:
            path.unlink()
    except OSError:
        pass


if __name__ == "__main__":
    serve(Path(sys.argv[1]))
