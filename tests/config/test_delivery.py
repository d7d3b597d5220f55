"""Delivery tracking's pure parts: the latency histogram and its
percentiles, and the checking of an instance's description."""
from __future__ import annotations

import pytest

from config_center.service.delivery import bucket_of, bucket_upper_ms, check_instance, percentile_ms
from config_center.service.errors import InvalidError


@pytest.mark.parametrize("ms", [0, 0.5, 1, 1.3, 7, 49.9, 250, 1234.5, 60_000])
def test_a_duration_falls_in_a_bucket_at_most_25_percent_wider(ms):
    bucket = bucket_of(ms)
    assert ms <= bucket_upper_ms(bucket)
    assert bucket == 0 or bucket_upper_ms(bucket - 1) < ms
    assert bucket_upper_ms(bucket) <= max(1.0, ms * 1.25 + 1e-9)


def test_percentiles_of_a_merged_histogram():
    histogram: dict[int, int] = {}
    for ms in [10] * 50 + [100] * 49 + [5000]:
        histogram[bucket_of(ms)] = histogram.get(bucket_of(ms), 0) + 1
    assert 10 <= percentile_ms(histogram, 0.5) <= 12.5
    assert 100 <= percentile_ms(histogram, 0.99) <= 125
    assert 5000 <= percentile_ms(histogram, 1.0) <= 6250
    assert percentile_ms({}, 0.5) is None


def test_instance_descriptions_are_checked():
    assert check_instance(None, "c1") == {"id": "c1", "host": "", "sdk": "", "labels": {}}
    described = check_instance({"id": "web-1", "labels": {"zone": "eu"}, "host": "h", "sdk": "py/1"}, "c1")
    assert described["labels"] == {"zone": "eu"} and described["id"] == "web-1"
    for bad in ([], {"id": 5}, {"id": ""}, {"labels": {"": "x"}}, {"labels": {"k": 1}}, {"colour": "red"},
                {"labels": {f"k{n}": "v" for n in range(40)}}):
        with pytest.raises(InvalidError):
            check_instance(bad, "c1")


def test_an_instance_written_as_json_reads_back_as_its_view():
    import json

    from config_center.service.context import ServiceContext
    from config_center.service.delivery import DeliveryTracker

    tracker = DeliveryTracker(ServiceContext(None))
    connection = tracker.connect({"id": "web-\"1\"", "labels": {"zone": "eu", "ünï": "ç"}, "host": "h"},
                                 user="ann", address="127.0.0.1")
    connection.subscribed("shop/prod")
    connection.sent("shop/prod", 12, 3, None, change=True)
    connection.acked("shop/prod", 12)
    assert json.loads(connection.view_json("shop/prod")) == connection.view("shop/prod")
    # A new description (a later hello) is written from then on.
    connection.instance = {"id": "web-2", "labels": {}, "host": "", "sdk": "py/2"}
    assert json.loads(connection.view_json("shop/prod")) == connection.view("shop/prod")
    assert json.loads(connection.view_json("shop/prod"))["id"] == "web-2"
