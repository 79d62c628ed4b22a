"""The spool: order, persistence, the bound with pairwise averaging, jobs never merged."""

from __future__ import annotations

from pathlib import Path

from atalaya_agent.spool import Spool, merge_samples


def sample(t: int, cpu: float, free: int = 1000) -> dict:
    return {
        "t": t,
        "n": 1,
        "cpu_pct": cpu,
        "mem_pct": 50.0,
        "swap_pct": None,
        "load1": 1.0,
        "volumes": [{"mount": "/", "free": free, "used_pct": 10.0}],
    }


def test_samples_come_back_oldest_first_and_survive_reopening(tmp_path: Path) -> None:
    path = tmp_path / "spool.sqlite3"
    spool = Spool(path)
    for t in (100, 160, 220):
        spool.add_sample(sample(t, float(t)))
    spool.close()
    spool = Spool(path)
    rows = spool.oldest_samples(500)
    assert [s["t"] for _, s in rows] == [100, 160, 220]
    assert rows[0][1]["cpu_pct"] == 100.0 and rows[0][1]["n"] == 1
    spool.delete_samples([rows[0][0]])
    assert [s["t"] for _, s in spool.oldest_samples(2)] == [160, 220]
    spool.close()


def test_a_sample_in_a_taken_second_moves_forward(spool: Spool) -> None:
    # The server identifies samples by their second: the same second twice would lose one.
    assert spool.add_sample(sample(100, 1.0)) == 100
    assert spool.add_sample(sample(100, 2.0)) == 101
    assert spool.add_sample(sample(50, 3.0)) == 102
    rows = spool.oldest_samples(10)
    spool.delete_samples([i for i, _ in rows])
    # Sent and deleted: a later sample still may not reuse a second already sent.
    assert spool.add_sample(sample(101, 4.0)) == 103


def test_bound_downsamples_oldest_and_loses_nothing(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_samples=20)
    values = [float(i % 7) * 10 for i in range(500)]
    for i, cpu in enumerate(values):
        spool.add_sample(sample(1000 + 60 * i, cpu, free=10_000 - i))
        assert spool.sample_count() <= 20
    rows = [s for _, s in spool.oldest_samples(1000)]
    assert len(rows) <= 20
    # Every sample is still counted, and the weighted means keep the totals.
    assert sum(s["n"] for s in rows) == 500 == spool.total_n()
    assert abs(sum(s["n"] * s["cpu_pct"] for s in rows) - sum(values)) < 0.5
    total_free = sum(10_000 - i for i in range(500))
    assert abs(sum(s["n"] * s["volumes"][0]["free"] for s in rows) - total_free) < 500
    times = [s["t"] for s in rows]
    assert times == sorted(times) and len(set(times)) == len(times)
    # The newest detail is kept; the oldest is the coarsest.
    assert rows[-1]["n"] == 1 and rows[-1]["t"] == 1000 + 60 * 499
    assert rows[0]["n"] > rows[-1]["n"]
    assert rows[0]["t"] >= 1000
    spool.close()


def test_job_heartbeats_and_results_are_never_merged(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool.sqlite3", max_samples=10)
    for i in range(100):
        spool.add_sample(sample(1000 + i, 1.0))
        spool.add_job("nightly", ok=i % 2 == 0, message=f"run {i}", t=5000 + i)
    spool.add_result({"action_id": "a1", "status": "succeeded", "exit_code": 0})
    jobs = [j for _, j in spool.jobs(500)]
    assert len(jobs) == 100
    assert [j["t"] for j in jobs] == list(range(5000, 5100))
    assert jobs[1] == {"name": "nightly", "t": 5001, "ok": False, "message": "run 1"}
    assert [r["action_id"] for _, r in spool.results()] == ["a1"]
    spool.close()


def test_merge_averages_by_weight_and_keeps_lone_volumes() -> None:
    a = {
        "t": 100,
        "n": 3,
        "cpu_pct": 10.0,
        "mem_pct": None,
        "load1": 1.0,
        "volumes": [{"mount": "/", "free": 300, "used_pct": 30.0}],
    }
    b = {
        "t": 200,
        "n": 1,
        "cpu_pct": 50.0,
        "mem_pct": 40.0,
        "load1": None,
        "volumes": [
            {"mount": "/", "free": 100, "used_pct": 70.0},
            {"mount": "/data", "free": 5, "used_pct": 1.0},
        ],
    }
    m = merge_samples(a, b)
    assert m["n"] == 4 and m["t"] == 125
    assert m["cpu_pct"] == 20.0
    assert m["mem_pct"] == 40.0 and m["load1"] == 1.0
    vols = {v["mount"]: v for v in m["volumes"]}
    assert vols["/"]["free"] == 250 and vols["/"]["used_pct"] == 40.0
    assert vols["/data"]["free"] == 5


def test_nonces_are_claimed_once_and_forgotten_after_expiry(spool: Spool) -> None:
    import time

    now = int(time.time())
    assert spool.claim_nonce("n1", "a1", now + 3600)
    assert not spool.claim_nonce("n1", "a2", now + 3600)
    assert spool.claim_nonce("old", "a3", now - 10)
    # A claim sweeps the expired nonces: an expired action is refused by its expiry anyway.
    spool.claim_nonce("n2", "a4", now + 3600)
    assert spool.counts()["nonce"] == 2
