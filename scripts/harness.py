"""The Guildhall server as scripts drive it: the binary on 127.0.0.1 with a fresh database
(dropped at the end) and one verified, signed-in user. Used by scripts/bench and scripts/fuzz."""
import json
import os
import re
import signal
import socket
import subprocess
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER = os.environ.get("BENCH_SERVER_URL", "postgres://postgres@127.0.0.1:5432")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(database, sql):
    """Runs `sql` in `database`; its output (unaligned, tuples only)."""
    return subprocess.run(["psql", f"{SERVER}/{database}", "-qAtc", sql], check=True, capture_output=True,
                          text=True).stdout


def gql(url, query, variables=None, token=None, headers=None, timeout=30):
    """Runs one operation; its data, or RuntimeError with its errors."""
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json", **(headers or {})})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        data = json.load(response)
    if "errors" in data:
        raise RuntimeError(data["errors"])
    return data["data"]


class Server:
    """The server on a fresh database, with one verified, signed-in user. `binary` is built
    first when it is the release build (the default); `log` receives the server's log lines
    after startup (default: discarded)."""

    def __init__(self, binary=None, env=None, log=None):
        if binary is None:
            subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
            binary = os.path.join(ROOT, "target/release/guildhall")
        self.database = f"guildhall_script_{os.getpid()}"
        port = free_port()
        env = dict(os.environ, DATABASE_URL=f"{SERVER}/{self.database}", LISTEN_ADDR=f"127.0.0.1:{port}",
                   RUST_LOG="warn,guildhall::mail=info", LOG_FORMAT="text", **(env or {}))
        env.pop("SMTP_URL", None)
        self.process = subprocess.Popen([binary], env=env, stderr=subprocess.PIPE, text=True)
        self.base = f"http://127.0.0.1:{port}"
        self.url = f"http://127.0.0.1:{port}/graphql"
        for _ in range(100):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.2)
        password = "bench passphrase 2026"
        gql(self.url, "mutation($i: RegisterInput!) { register(input: $i) }",
            {"i": {"email": "bench@example.com", "password": password, "name": "Bench"}})
        token = None
        while token is None:
            line = self.process.stderr.readline()
            if not line:
                raise RuntimeError(f"the server exited ({self.process.poll()}) before mailing its first user")
            found = re.search(r"verify-email\?token=([A-Za-z0-9_-]+)", line)
            token = found and found.group(1)
        threading.Thread(target=lambda: [(log or (lambda _: None))(line) for line in self.process.stderr],
                         daemon=True).start()
        gql(self.url, "mutation($t: String!) { verifyEmail(token: $t) { id } }", {"t": token})
        self.login = "mutation($i: LoginInput!) { login(input: $i) { accessToken } }"
        self.credentials = {"i": {"email": "bench@example.com", "password": password}}
        self.access = gql(self.url, self.login, self.credentials)["login"]["accessToken"]

    def rss(self):
        status = open(f"/proc/{self.process.pid}/status").read()
        return re.search(r"VmRSS:\s+(\d+ kB)", status).group(1)

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)
        psql("postgres", f"DROP DATABASE IF EXISTS {self.database} WITH (FORCE)")


