import pytest

from sciwm.errors import InputError
from sciwm.protocol import Protocol, Segment, parse_protocol
from sciwm.units import parse_pressure_bar, parse_time_ps


def test_parse_two_segments():
    p = parse_protocol("T=300K,P=1bar,t=100ps; T=350K,t=50ps")
    assert p.segments == (Segment(300.0, 1.0, 100.0), Segment(350.0, None, 50.0))
    assert p.duration_ps == 150.0 and p.has_pressure
    assert [s.ensemble for s in p.segments] == ["NPT", "NVT"]


def test_units():
    assert parse_time_ps("2fs") == pytest.approx(0.002)
    assert parse_time_ps("1ns") == 1000.0
    assert parse_pressure_bar("1atm") == pytest.approx(1.01325)
    assert parse_protocol("T=300K,t=0.5ns").duration_ps == 500.0


def test_round_trip_through_string_and_json():
    p = parse_protocol("T=300K,P=1.5atm,t=100ps;T=350K,t=50fs")
    again = parse_protocol(str(p))
    assert str(again) == str(p)
    for a, b in zip(again.segments, p.segments):
        assert a.pressure_bar == pytest.approx(b.pressure_bar, rel=1e-14) if b.pressure_bar else a == b
    assert Protocol.from_json(p.to_json()) == p


@pytest.mark.parametrize("text", [
    "", "T=300K", "t=10ps", "T=0K,t=1ps", "T=-5K,t=1ps", "T=300,t=1ps", "T=300K,t=-1ps",
    "T=300K,t=1ps,X=3", "T=300K,T=310K,t=1ps", "T=300K,P=1pascal,t=1ps", "T=abcK,t=1ps",
])
def test_malformed_protocols_raise(text):
    with pytest.raises(InputError):
        parse_protocol(text)
