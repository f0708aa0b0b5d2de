"""tests/run.sh itself: a run that executed no test fails, whatever the
reason (no unit-test binaries, a binary that ran none of its tests, pytest
collecting nothing), and one that ran tests and passed succeeds."""
import os
import stat
import subprocess

from conftest import BROKERS, ROOT

RUN = str(ROOT / "tests" / "run.sh")


def fake_unit(build, name, summary, rc=0):
    """A stand-in cmocka binary printing cmocka's closing line."""
    tests = build / "tests"
    tests.mkdir(parents=True, exist_ok=True)
    path = tests / name
    path.write_text(f"#!/bin/sh\necho '{summary}'\nexit {rc}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run(build, *args):
    env = dict(os.environ, B=str(build), FERRY_KAFKA_BROKERS=BROKERS)
    p = subprocess.run([RUN, *args], env=env, capture_output=True, text=True, timeout=120)
    return p.returncode, p.stdout + p.stderr


def test_no_unit_binaries_fails(tmp_path):
    rc, out = run(tmp_path / "empty", "--unit-only")
    assert rc != 0, out
    assert "no unit-test binaries" in out and "0 passed, 1 failed" in out


def test_unit_binary_that_ran_nothing_fails(tmp_path):
    fake_unit(tmp_path, "test_some", "[  PASSED  ] 3 test(s).")
    fake_unit(tmp_path, "test_none", "[  PASSED  ] 0 test(s).")
    rc, out = run(tmp_path, "--unit-only")
    assert rc != 0, out
    assert "test_none ran no test" in out and "3 passed, 1 failed" in out


def test_units_that_ran_and_passed_succeed(tmp_path):
    fake_unit(tmp_path, "test_some", "[  PASSED  ] 3 test(s).")
    rc, out = run(tmp_path, "--unit-only")
    assert rc == 0, out
    assert "3 passed, 0 failed" in out


def test_pytest_collecting_nothing_fails(tmp_path):
    fake_unit(tmp_path, "test_some", "[  PASSED  ] 1 test(s).")
    rc, out = run(tmp_path, "-k", "no_test_has_this_name_at_all")
    assert rc != 0, out
    assert "no test ran" in out and "1 passed, 1 failed" in out
