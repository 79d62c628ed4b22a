"""``atalaya links`` commands: check, update-feeds (feeds raise the verdict), train."""

from __future__ import annotations

import io

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from atalaya.security.links import judge_urls
from atalaya.security.links.judge import reset_feed_cache
from atalaya.security.models import FeedEntry, FeedLoad


@pytest.fixture(autouse=True)
def _fresh(db):
    reset_feed_cache()
    yield
    reset_feed_cache()


def test_check_prints_one_line_per_url_in_order(tmp_path):
    f = tmp_path / "u.txt"
    f.write_text("https://www.google.com/\nhttp://раураl.com/login\n\n", encoding="utf-8")
    out = io.StringIO()
    call_command("links", "check", "--file", str(f), stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith("ok ")
    assert lines[1].startswith("phishing ")
    label, score = lines[1].split()
    assert 0.0 <= float(score) <= 1.0


def test_check_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="--file"):
        call_command("links", "check", "--file", str(tmp_path / "none.txt"))


def test_update_feeds_detects_formats_and_feeds_win(tmp_path):
    openphish = tmp_path / "feed.txt"
    openphish.write_text("https://innocent-looking.example/a\nhttp://other.example/b\n")
    urlhaus = tmp_path / "urlhaus.csv"
    urlhaus.write_text(
        "# URLhaus database dump\n"
        '"1","2026-01-01 00:00:00","http://malware.example/x.exe","online","","malware_download","","","r"\n'
    )
    phishtank = tmp_path / "pt.csv"
    phishtank.write_text(
        "phish_id,url,phish_detail_url,submission_time,verified,verification_time,online,target\n"
        "1,http://pt.example/login,x,2026,yes,2026,yes,Other\n"
    )
    out = io.StringIO()
    call_command("links", "update-feeds", str(openphish), str(urlhaus), str(phishtank), stdout=out)
    assert FeedLoad.objects.count() == 3
    assert set(FeedEntry.objects.values_list("source", flat=True)) == {
        "openphish",
        "urlhaus",
        "phishtank",
    }
    j = judge_urls(
        [
            "https://innocent-looking.example/a#x",
            "http://malware.example/x.exe",
            "http://pt.example/login",
        ]
    )
    assert [x.verdict for x in j] == ["phishing"] * 3
    assert j[0].reasons[0] == "feed:openphish"
    # A newer load of the same source replaces its entries.
    openphish.write_text("http://other.example/b\n")
    call_command("links", "update-feeds", str(openphish), stdout=out)
    reset_feed_cache()
    assert FeedEntry.objects.filter(source="openphish").count() == 1
    assert judge_urls(["https://innocent-looking.example/a"])[0].reasons[:1] != ["feed:openphish"]


def test_update_feeds_refuses_unknown_format(tmp_path):
    bad = tmp_path / "x.bin"
    bad.write_bytes(b"\x00\x01garbage\n")
    with pytest.raises(CommandError, match="unknown feed format"):
        call_command("links", "update-feeds", str(bad))


def test_train_is_reproducible(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "phishstorm-phishing.txt").write_text(
        "\n".join(
            f"http://login-verify{i}.example{i % 7}.tk/paypal/webscr{i}.php" for i in range(300)
        )
    )
    (data / "phishstorm-benign.txt").write_text(
        "\n".join(f"https://www.site{i}.org/news/article-{i}.html" for i in range(300))
    )
    a, b = tmp_path / "a.npz", tmp_path / "b.npz"
    call_command("links", "train", "--data", str(data), "--out", str(a), stdout=io.StringIO())
    call_command("links", "train", "--data", str(data), "--out", str(b), stdout=io.StringIO())
    za, zb = np.load(a), np.load(b)
    assert np.array_equal(za["weights"], zb["weights"]) and float(za["bias"]) == float(zb["bias"])
    with pytest.raises(CommandError, match="--data"):
        call_command("links", "train", "--data", str(tmp_path / "nope"))
