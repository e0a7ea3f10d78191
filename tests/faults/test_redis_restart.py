"""Redis killed (-9) and started again 3 s later, with 30 jobs on 2 workers and 30 open watchers.

The stack of tests/faults/blips.py on a fresh PostgreSQL database (the machine's) and a Redis of the
test's own (`RedisServer`: nothing kept on disk, it comes back empty like after a crash). Once a third
of the jobs succeeded, Redis is killed and started again on the same port 3 s later. Every job must
succeed, once, on its first attempt; both workers and the web process must still run; every watcher
must see its job's final state, also those whose job ended while Redis was down (their worker's
publish failed: the page hears it from the re-read after the web's subscription came back, or from
the worker sending it again).
"""

from __future__ import annotations

import time

import pytest

from tests.faults.blips import CONVERGE, JOBS, Blip
from tests.services import RedisServer, fresh_postgres_database

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis, pytest.mark.timeout(600)]

DOWN_FOR = 3.0


def test_30_jobs_and_30_watchers_survive_redis_killed_and_restarted(tmp_path):
    redis = RedisServer().start()
    blip = None
    try:
        with fresh_postgres_database("redis_blip") as database_url:
            blip = Blip(tmp_path, {"DATABASE_URL": database_url, "REDIS_URL": f"{redis.url}/0"})
            blip.prepare()

            def outage() -> None:
                redis.kill()
                time.sleep(DOWN_FOR)
                redis.start()

            blip.run(outage)
            attempts, executions, alive = blip.attempts(), blip.executions(), blip.alive()
            statuses, ended_during = blip.statuses(), blip.ended_on_a_backend_during_the_outage()
    finally:
        if blip is not None:
            blip.stop()
        redis.stop()

    logs = blip.logs()
    assert sorted(statuses.values()) == ["succeeded"] * JOBS, logs
    assert alive == {"web": True, "worker-a": True, "worker-b": True}, logs
    assert sorted(executions) == sorted(job_id.replace("-", "") for job_id in statuses), "each job ran once"
    assert set(attempts.values()) == {1}, "a Redis outage sends no job back to the queue"
    assert all(watcher.statuses[-1] == "succeeded" for watcher in blip.watchers)
    assert ended_during, "some jobs ended while Redis was down (else the test shows nothing)"
    during = [w for w in blip.watchers if w.job_id.replace("-", "") in ended_during]
    late = {w.job_id: round(w.final_at - blip.outage_ended, 1) for w in during}
    print(f"\n{len(during)} job(s) ended during the outage; seen by their pages after Redis returned: {late} s")
    assert all(seconds <= CONVERGE for seconds in late.values())
