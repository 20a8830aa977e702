"""Settings come from CMP_* variables, with clear errors, and secrets never from the repo."""
from __future__ import annotations

import stat

import pytest

from cmp_server.platform.settings import ConfigError, from_environment, load_secret_keys
from tests.support.races import disagreements, race


def test_defaults_use_sqlite_in_the_instance_folder_and_generate_a_secret(tmp_path):
    config = from_environment(str(tmp_path), environ={})
    assert config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{tmp_path / 'cmp.sqlite3'}"
    secret_file = tmp_path / "secret_keys"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert config["CMP_SECRET_KEYS"] == [secret_file.read_text().strip()]
    assert len(config["SECRET_KEY"]) >= 48
    # the generated key is kept: a restart does not log visitors out
    assert from_environment(str(tmp_path), environ={})["SECRET_KEY"] == config["SECRET_KEY"]
    assert config["CMP_TRUSTED_PROXY_HOPS"] == 0


def test_workers_of_a_first_start_generate_one_secret(tmp_path):
    """gunicorn's workers each create the app: on a first start they race to generate the
    secret, and must all sign with the one that was kept."""
    instances = [tmp_path / f"instance-{n}" for n in range(30)]
    results = race(lambda instance: "|".join(load_secret_keys(None, str(instance))), instances)
    assert disagreements(results) == []
    for instance, keys in zip(instances, results[0]):
        assert (instance / "secret_keys").read_text() == keys + "\n"


def test_secret_keys_from_the_environment_first_signs_all_verify(tmp_path):
    config = from_environment(str(tmp_path), environ={"CMP_SECRET_KEYS": "new-key, old-key"})
    assert config["CMP_SECRET_KEYS"] == ["new-key", "old-key"]
    assert config["SECRET_KEY"] == "new-key"
    assert not (tmp_path / "secret_keys").exists()


@pytest.mark.parametrize("given", [
    "postgresql://cmp@db.internal/cmp", "postgres://cmp@db.internal/cmp",
    "postgresql+psycopg://cmp@db.internal/cmp",
])
def test_postgres_urls_use_psycopg_3(tmp_path, given):
    config = from_environment(str(tmp_path), environ={"CMP_DATABASE_URL": given})
    assert config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://cmp@db.internal/cmp"


@pytest.mark.parametrize("name,value,message", [
    ("CMP_TRUSTED_PROXY_HOPS", "two", "CMP_TRUSTED_PROXY_HOPS must be an integer, got 'two'"),
    ("CMP_TRUSTED_PROXY_HOPS", "-1", "CMP_TRUSTED_PROXY_HOPS must be at least 0, got -1"),
    ("CMP_MAX_CONTENT_LENGTH", "10", "CMP_MAX_CONTENT_LENGTH must be at least 1024, got 10"),
])
def test_bad_settings_name_the_variable(tmp_path, name, value, message):
    with pytest.raises(ConfigError) as raised:
        from_environment(str(tmp_path), environ={"CMP_SECRET_KEYS": "k", name: value})
    assert str(raised.value) == message


def test_only_the_settings_module_reads_the_environment():
    from pathlib import Path

    package = Path(__file__).resolve().parents[2]
    readers = [
        str(path.relative_to(package))
        for folder in ("cmp_server", "consent_logs")
        for path in (package / folder).rglob("*.py")
        if "os.environ" in path.read_text() or "os.getenv" in path.read_text()
    ]
    assert readers == ["cmp_server/platform/settings.py"]


def test_a_new_instance_folder_is_created_for_the_database(tmp_path):
    from cmp_server import create_app

    instance = tmp_path / "does" / "not" / "exist"
    app = create_app({"CMP_SECRET_KEYS": ["k"]}, instance_path=str(instance))
    assert instance.is_dir()
    assert app.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance / 'cmp.sqlite3'}"
