"""Secret options are redacted at the source (issue 9, item 6): never in the reproduce command or the settings."""
import pytest

from fixtures import options
from meshproof.redact import SECRET_OPTIONS, redact_argv, redact_command

PASSWORD = "hunter2-Zq81"

#: the fake suite's run records its real command line, as meshproof.run.RunInfo does, and has the option
SECRET_CONFTEST = """
import shlex, sys

def pytest_addoption(parser):
    parser.getgroup("meshproof").addoption("--external-db-password", default=None)

@pytest.fixture(autouse=True, scope="session")
def _real_command(request):
    request.config.stash[RUN_KEY].command = shlex.join(["pytest", *sys.argv[1:]])
"""


def test_every_option_that_names_a_password_is_secret():
    parser = pytest.Parser(_ispytest=True)
    options.pytest_addoption(parser)
    names = {name for option in parser.getgroup("meshproof").options for name in option.names()}
    assert {name for name in names if "password" in name} <= SECRET_OPTIONS
    assert SECRET_OPTIONS <= names


@pytest.mark.parametrize("argv", [
    ["pytest", f"--external-db-password={PASSWORD}", "-m", "egress-tls"],
    ["pytest", "--external-db-password", PASSWORD, "-m", "egress-tls"],
])
def test_the_value_is_replaced_in_both_spellings(argv):
    redacted = redact_argv(argv)
    assert PASSWORD not in " ".join(redacted) and redacted[-2:] == ["-m", "egress-tls"]
    assert PASSWORD not in redact_command(" ".join(argv))


@pytest.mark.parametrize("spelling", [[f"--external-db-password={PASSWORD}"], ["--external-db-password", PASSWORD]],
                         ids=["equals", "separate"])
def test_no_file_of_a_run_holds_the_password(fake_suite, spelling):
    run = fake_suite("""
        from helpers import *

        @egress
        def test_query():
            pass
    """, *spelling, conftest=SECRET_CONFTEST)
    assert run.result.ret == 0
    report = run.conformance
    assert "--external-db-password" in report["reproduce"] and "[redacted]" in report["reproduce"]
    assert report["settings"]["--external-db-password"] == "[redacted]"
    leaks = [p for p in run.reports.rglob("*") if p.is_file() and PASSWORD.encode() in p.read_bytes()]
    assert leaks == []
    assert PASSWORD not in run.result.stdout.str()
