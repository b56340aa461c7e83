"""API keys: stored hashed, found by id and secret, revocable, re-read when the file changes."""

import hashlib
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from tokenmeter.api import keys
from tokenmeter.api.keys import KeyRing
from tokenmeter.cli.main import cli
from tokenmeter.errors import ConfigError


def test_the_file_keeps_only_a_hash_and_the_ring_finds_the_key(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    record, full = keys.create(path, "tenant", ("acme",), name="Acme")
    key_id, secret = keys.split(full) or ("", "")
    assert (key_id, full) == (record.id, f"tmk_{record.id}_{secret}")
    text = path.read_text()
    assert secret not in text and hashlib.sha256(secret.encode()).hexdigest() in text
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    ring = KeyRing(path)
    assert ring.find(full) == record
    for wrong in (full[:-1] + ("A" if full[-1] != "A" else "B"), full + "x", f"tmk_{record.id}", "tmk_", "",
                  full.replace("tmk_", "tmx_"), f"tmk_ffffffffffff_{secret}"):
        assert ring.find(wrong) is None, wrong


def test_a_revoked_key_stops_working_once_the_file_is_reread(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    record, full = keys.create(path, "admin")
    ring = KeyRing(path, recheck_seconds=0)
    assert ring.find(full) is not None
    revoked = keys.revoke(path, record.id)
    assert revoked.revoked_at is not None and not revoked.active
    assert ring.find(full) is None
    assert keys.revoke(path, record.id).revoked_at == revoked.revoked_at  # revoking twice keeps the first time
    with pytest.raises(ConfigError, match="no API key with id 'nope'"):
        keys.revoke(path, "nope")


def test_a_broken_edit_keeps_the_last_good_keys(tmp_path: Path) -> None:
    path = tmp_path / "keys.json"
    _, full = keys.create(path, "admin")
    ring = KeyRing(path, recheck_seconds=0)
    assert ring.find(full) is not None
    path.write_text('{"version": 1, "keys": [{"id": "short"}]}')
    os.utime(path, ns=(1, 1))
    assert ring.find(full) is not None
    with pytest.raises(ConfigError, match=r"keys\.0\.id"):
        keys.read(path)


@pytest.mark.parametrize(("role", "tenants", "message"), [
    ("tenant", (), "exactly one tenant"), ("tenant", ("a", "b"), "exactly one tenant"),
    ("admin", ("a",), "reads every tenant"), ("ingest", ("",), "1 to 256 characters")])
def test_keys_that_make_no_sense_are_refused(tmp_path: Path, role: keys.Role, tenants: tuple[str, ...],
                                             message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        keys.create(tmp_path / "keys.json", role, tenants)
    assert not (tmp_path / "keys.json").exists()


def test_cli_prints_the_key_once_and_lists_without_secrets(tmp_path: Path) -> None:
    env = {"TOKENMETER_VAR_DIR": str(tmp_path)}
    runner = CliRunner()
    created = runner.invoke(cli, ["keys", "create", "--role", "ingest", "--tenant", "acme", "--tenant", "globex",
                                  "--rate", "5", "--name", "gateway eu"], env=env)
    assert created.exit_code == 0, created.output
    full = created.stdout.strip()
    assert KeyRing(tmp_path / "api-keys.json").find(full) is not None
    key_id = keys.split(full)[0]  # type: ignore[index]
    listed = runner.invoke(cli, ["keys", "list"], env=env).stdout
    assert full.split("_", 2)[2] not in listed
    assert listed.splitlines()[1].split() == [key_id, "ingest", "acme,globex", "5", listed.split()[11], "-",
                                              "gateway", "eu"]
    revoked = runner.invoke(cli, ["keys", "revoke", key_id], env=env)
    assert revoked.stdout.startswith(f"revoked key id={key_id} at ")
    assert KeyRing(tmp_path / "api-keys.json").find(full) is None


def test_requests_racing_the_first_read_of_the_file_all_find_their_key(tmp_path: Path) -> None:
    """FastAPI runs the key check in its thread pool: a request arriving while another thread
    reads the file must wait for that read, not answer 401 from the still-empty ring."""
    import threading

    path = tmp_path / "api-keys.json"
    full = keys.create(path, "ingest")[1]
    for _ in range(30):
        ring = KeyRing(path)
        start = threading.Barrier(8)
        found: list[bool] = []

        def check(ring: KeyRing = ring, start: threading.Barrier = start, found: list[bool] = found) -> None:
            start.wait()
            found.append(ring.find(full) is not None)

        threads = [threading.Thread(target=check) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert found == [True] * 8
