"""The DORA page's sentence about where lead-time samples came from."""

from __future__ import annotations

from shipmate.web.pages import lead_time_sources


def test_each_source_with_samples_is_one_phrase_in_the_page_order() -> None:
    sources = {"unknown": 1, "unchanged": 2, "recorded_commit_time": 0, "repository": 3}
    assert lead_time_sources(sources) == [
        "3 deployments with every new commit read from git",
        "none from 2 redeployments of the same commit",
        "none from 1 deployment without a commit time",
    ]


def test_a_single_sample_is_singular_and_no_samples_say_nothing() -> None:
    assert lead_time_sources({"recorded_commit_time": 1}) == [
        "1 deployment with the deployed commit's recorded time"
    ]
    assert lead_time_sources({}) == []
