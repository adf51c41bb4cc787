"""Settings from the seed's variables and URLs; passwords never in what is printed."""

from __future__ import annotations

import pytest

from dbtools.backends.postgres import PostgresBackend
from dbtools.errors import ConfigError
from dbtools.settings import Settings, from_env, mask

PG = PostgresBackend.defaults


def test_seed_defaults() -> None:
    s = from_env("postgres", PG, {})
    assert (s.host, s.port, s.database, s.user, s.password) == (
        "localhost",
        5432,
        "trading_users",
        "postgres",
        "postgres",
    )
    assert s.source == "defaults"


def test_parts_then_url_override() -> None:
    env = {"POSTGRES_HOST": "db", "POSTGRES_PORT": "6543", "POSTGRES_DB": "x", "POSTGRES_PASSWORD": "p"}
    s = from_env("postgres", PG, env)
    assert (s.host, s.port, s.database, s.password) == ("db", 6543, "x", "p")
    s = from_env("postgres", PG, {**env, "POSTGRES_URL": "postgresql://u:p%40ss@h:1/d?sslmode=disable"})
    assert (s.user, s.password, s.host, s.port, s.database, dict(s.query)) == (
        "u",
        "p@ss",
        "h",
        1,
        "d",
        {"sslmode": "disable"},
    )
    assert s.source == "POSTGRES_URL"


def test_display_url_and_mask_hide_the_password() -> None:
    s = from_env("postgres", PG, {"POSTGRES_URL": "postgres://u:s3cr%2Ft@h:1/d"})
    assert "s3cr" not in s.display_url and "***" in s.display_url
    assert "s3cr" not in repr(s)
    assert mask("failed for s3cr/t and s3cr%2Ft", s) == "failed for *** and ***"


def test_url_without_credentials_has_no_userinfo_and_reads_back() -> None:
    s = Settings("mongodb", "mongodb", "127.0.0.1", 27018, "meta", "", "")  # as the sandboxes make them
    assert s.url == s.display_url == "mongodb://127.0.0.1:27018/meta"  # `://@` is refused by Node's driver
    again = from_env("postgres", PG, {"POSTGRES_URL": s._replace(store="postgres", scheme="postgres").url})
    assert (again.host, again.port, again.database, again.password) == ("127.0.0.1", 27018, "meta", "")
    only_password = Settings("redis", "redis", "h", 1, "0", "", "pw")  # a password alone keeps its `:...@`
    assert only_password.display_url == "redis://:***@h:1/0"


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"POSTGRES_PORT": "54x"}, "POSTGRES_PORT"),
        ({"POSTGRES_URL": "mysql://h/d"}, "POSTGRES_URL"),
        ({"POSTGRES_URL": "postgres://h:99999/d"}, "POSTGRES_URL"),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as error:
        from_env("postgres", PG, env)
    assert variable in error.value.message or variable in (error.value.hint or "")


def test_session_options_come_from_the_environment() -> None:
    s = from_env("postgres", PG, {"POSTGRES_STATEMENT_TIMEOUT": "5s"})
    assert s.options == {"statement_timeout": "5s"}
