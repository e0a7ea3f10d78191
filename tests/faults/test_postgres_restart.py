"""PostgreSQL crashed and started again 3 s later, with 30 jobs on 2 workers and 30 open watchers.

The stack of tests/faults/blips.py on a PostgreSQL cluster of the test's own (`PostgresCluster`, initdb
and pg_ctl on a free port: the machine's shared PostgreSQL is never stopped) and a Redis of its own.
Once a third of the jobs succeeded, the cluster is stopped the way a crash stops it (`pg_ctl -m
immediate`: every connection cut, recovery from the WAL at the next start) and started again on the
same port 3 s later. Every job must succeed and run to completion exactly once on the backends, at
most one retry, also those whose run ended while the database was away (the worker waits to store
their result); both workers and the web process must still run; every watcher must see the end.
"""

from __future__ import annotations

import time

import pytest

from tests.faults.blips import JOBS, Blip
from tests.services import PostgresCluster, RedisServer

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(600)]

DOWN_FOR = 3.0


def test_30_jobs_and_30_watchers_survive_postgresql_crashed_and_restarted(tmp_path):
    cluster = PostgresCluster().init().start()
    redis = RedisServer().start()
    blip = None
    try:
        blip = Blip(tmp_path, {"DATABASE_URL": cluster.database("blip"), "REDIS_URL": f"{redis.url}/0"})
        blip.prepare()

        def outage() -> None:
            cluster.crash()
            time.sleep(DOWN_FOR)
            cluster.start()

        blip.run(outage)
        attempts, executions, alive = blip.attempts(), blip.executions(), blip.alive()
        statuses, ended_during = blip.statuses(), blip.ended_on_a_backend_during_the_outage()
    finally:
        if blip is not None:
            blip.stop()
        redis.stop()
        cluster.stop()

    logs = blip.logs()
    assert sorted(statuses.values()) == ["succeeded"] * JOBS, logs
    assert alive == {"web": True, "worker-a": True, "worker-b": True}, logs
    duplicates = sorted({job_id for job_id in executions if executions.count(job_id) > 1})
    assert not duplicates, f"jobs run to completion twice: {duplicates}"
    assert sorted(executions) == sorted(job_id.replace("-", "") for job_id in statuses), "each job ran once"
    assert max(attempts.values()) <= 2, f"at most one retry: {sorted(attempts.values())}"
    assert all(watcher.statuses[-1] == "succeeded" for watcher in blip.watchers)
    print(
        f"\n{len(ended_during)} job(s) ended on a backend while PostgreSQL was away; "
        f"{sum(n > 1 for n in attempts.values())} retried"
    )
    assert ended_during, "runs ended while the database was away (else the test shows nothing)"
