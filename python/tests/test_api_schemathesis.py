"""Hostile input against the real server: schemathesis generates requests for every operation
in /api/openapi.json of a running `nvisy serve` (embedded PostgreSQL and NATS), signed in with an
API token, and fails on any 5xx or any response that does not conform to the spec.

`make test` runs a few hundred requests (NVISY_FUZZ_EXAMPLES per operation, default 15) with the
checks below. `make check-all` (scripts/check-all.sh) raises the examples, turns on every check
schemathesis has (NVISY_FUZZ_CHECKS=all) and the stateful phase over the links it infers, and
asks for at least NVISY_FUZZ_MIN_REQUESTS requests. The requests are counted from schemathesis'
HAR report, which also gives an independent count of 5xx answers.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BINARY = Path(os.environ.get("NVISY_BIN", REPO / ".build" / "debug" / "nvisy"))
VENV_BIN = Path(os.environ.get("NVISY_VENV", REPO / ".venv")) / "bin"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _request(method: str, url: str, body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"{}")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


@pytest.fixture(scope="module")
def server():
    assert BINARY.exists(), f"{BINARY} is missing: build it first (`swift build`, done by `make test`)"
    data_dir = tempfile.mkdtemp(prefix="nvisy-fuzz-", dir="/tmp")
    os.chmod(data_dir, 0o755)
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("NVISY_")}
    env["NVISY_VENV"] = str(VENV_BIN.parent)
    log = open(Path(data_dir) / "serve.log", "w")
    proc = subprocess.Popen(
        [str(BINARY), "serve", "--data-dir", data_dir, "--port", str(port), "--log-level", "warning"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:
        try:
            with urllib.request.urlopen(base + "/health", timeout=2) as resp:
                if resp.status == 200:
                    break
        except OSError:
            pass
        assert proc.poll() is None, "nvisy serve exited: " + (Path(data_dir) / "serve.log").read_text()
        assert time.monotonic() < deadline, "nvisy serve did not become healthy in 180 s"
        time.sleep(0.25)
    try:
        yield base, Path(data_dir) / "serve.log"
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
        shutil.rmtree(data_dir, ignore_errors=True)


def test_every_operation_survives_generated_requests(server):
    base, log = server
    status, body = _request("POST", base + "/api/v1/auth/signup",
                            {"email": "fuzz@example.com", "password": "correct horse battery staple", "displayName": "Fuzz"})
    assert status == 201, body
    # An API token, not the session: the fuzzer calls logout, which ends sessions.
    status, body = _request("POST", base + "/api/v1/api-tokens", {"name": "fuzz"}, token=body["token"])
    assert status == 201, body
    token = body["token"]
    examples = os.environ.get("NVISY_FUZZ_EXAMPLES", "15")
    checks = os.environ.get("NVISY_FUZZ_CHECKS",
                            "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance")
    min_requests = int(os.environ.get("NVISY_FUZZ_MIN_REQUESTS", "0"))
    # Kept after a failed run (the server's data dir is removed): the full output and the HAR of every
    # request; kept always when NVISY_FUZZ_REPORT_DIR names the place.
    report_dir = Path(os.environ.get("NVISY_FUZZ_REPORT_DIR") or tempfile.mkdtemp(prefix="nvisy-schemathesis-", dir="/tmp"))
    report_dir.mkdir(parents=True, exist_ok=True)
    har = report_dir / "schemathesis.har"
    result = subprocess.run(
        [str(VENV_BIN / "st"), "run", base + "/api/openapi.json",
         "-H", f"Authorization: Bearer {token}",
         "--checks", checks,
         "--max-examples", examples, "--request-timeout", "20",
         "--generation-deterministic",
         "--report", "har", "--report-har-path", str(har),
         # Deleting the fuzzer's own account, ending its own session or revoking its own API token
         # (it lists the tokens and reuses the ids it saw) would leave it testing 401s only.
         "--exclude-operation-id", "deleteAccount", "--exclude-operation-id", "deleteApiToken",
         "--exclude-path", "/api/v1/auth/logout"],
        capture_output=True, text=True, timeout=int(os.environ.get("NVISY_FUZZ_TIMEOUT", "900")),
    )
    output = result.stdout + result.stderr
    (report_dir / "output.txt").write_text(output)
    print(output[-2500:])
    print(f"schemathesis output and HAR: {report_dir}")
    assert result.returncode == 0, output[-6000:] + "\n--- server log ---\n" + log.read_text()[-4000:]
    assert "Authentication failed" not in output, output[-3000:]
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    server_errors = [e for e in entries if e["response"]["status"] >= 500]
    operations = {(e["request"]["method"], e["request"]["url"].split("?")[0]) for e in entries}
    print(f"schemathesis: {len(entries)} requests, {len(server_errors)} answered 5xx, {len(operations)} distinct method+URL")
    assert not server_errors, [(e["request"]["method"], e["request"]["url"], e["response"]["status"]) for e in server_errors[:10]]
    assert len(entries) >= min_requests, f"only {len(entries)} requests (wanted >= {min_requests})"
    if not os.environ.get("NVISY_FUZZ_REPORT_DIR"):
        shutil.rmtree(report_dir, ignore_errors=True)  # passed: nothing to look at
