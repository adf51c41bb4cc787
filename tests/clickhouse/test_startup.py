"""What a native-protocol run pays to start (issue 18): clickhouse-driver without its eager Date table."""

from __future__ import annotations

import subprocess
import sys

from dbtools.settings import Settings

from .conftest import clickhouse_env

CONNECT = """
import sys
from dbtools.backends.clickhouse import ClickHouseBackend
from dbtools.settings import Settings
host, port, database, user, password = sys.argv[1:]
backend = ClickHouseBackend(Settings("clickhouse", "clickhouse", host, int(port), database, user, password))
backend.connect()
print(backend.query("SELECT toDate('2026-11-28'), toDate('1901-07-22')")[0])
import clickhouse_driver.columns.datecolumn as dates
print(len(dates.DateColumn.date_lut))
backend.close()
"""


def test_connecting_builds_no_date_table_up_front(native: Settings) -> None:
    # clickhouse-driver fills 146,000 dates at import (0.12-0.2 s) unless told a range; Dates still read
    env = {k: v for k, v in clickhouse_env(native).items() if k != "CLICKHOUSE_DRIVER_LASY_DATE_LUT"}
    where = [native.host, str(native.port), native.database, native.user, native.password]
    done = subprocess.run([sys.executable, "-c", CONNECT, *where], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    dates, size = done.stdout.splitlines()
    assert dates == "(datetime.date(2026, 11, 28), datetime.date(1970, 1, 1))"  # 18.16 clamps to its range
    assert int(size) < 100, size
