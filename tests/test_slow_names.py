"""tests/conftest.py's SLOW_TESTS names tests by `module::function`; a name that names no test (misspelt, the test
renamed or deleted) would mark nothing, and the slow test would run in `make test-fast` unnoticed. The
collection checks every name (check_slow_names) and stops, naming the stale ones."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import SLOW_MODULES, SLOW_TESTS, check_slow_names, stale_slow_names

REPO = Path(__file__).resolve().parent.parent
HERE = "test_slow_names::test_a_stale_name_in_slow_tests_is_named_and_stops_the_collection"
PROBE_ENV = "TREX_TEST_STALE_SLOW_NAMES"  # read only by the hook below, in the subprocess that loads it with -p


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items):  # a hook only where this module is loaded as a plugin (-p, below)
    """Before conftest's check: add the names the test below passes, as a misspelt SLOW_TESTS entry would be."""
    SLOW_TESTS.update(filter(None, os.environ.get(PROBE_ENV, "").split(",")))


def test_a_stale_name_in_slow_tests_is_named_and_stops_the_collection(request):
    items = request.session.items  # what pytest collected in this session: this module's tests at least
    assert stale_slow_names(items, SLOW_TESTS, SLOW_MODULES) == []  # the names as they are now all name a test
    assert stale_slow_names(items, {HERE}, set()) == []
    wrong = {HERE.replace("stops", "stop"), "test_no_such_module::test_x"}
    assert stale_slow_names(items, {HERE} | wrong, {"test_no_such_e2e"}) == sorted({"test_no_such_e2e"} | wrong)
    with pytest.raises(pytest.UsageError, match="test_no_such_module::test_x") as err:
        check_slow_names(items, {HERE} | wrong, set())
    assert HERE.replace("stops", "stop") in str(err.value)


def test_a_real_collection_with_a_misspelt_name_fails_naming_it():
    """As pytest runs it: conftest's hook stops the collection (exit 4, a usage error) and names the entry."""
    misspelt = HERE.replace("collection", "colection")
    run = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "tests.test_slow_names",
                          "-p", "no:cacheprovider", "tests/test_slow_names.py"], cwd=REPO, capture_output=True,
                         text=True, timeout=120, env={**os.environ, PROBE_ENV: misspelt})
    assert run.returncode == pytest.ExitCode.USAGE_ERROR, run.stdout + run.stderr
    assert misspelt in run.stderr and "do not exist" in run.stderr
    clean = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                            "tests/test_slow_names.py"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr  # the same collection without it goes on
