"""Every command, given bad input or a broken environment, answers in one line on stderr, naming
the cause and what to change, with exit code 2 for bad usage and 1 for a failed operation: never a
traceback. Most cases run `main()` in this process (what the console script calls); the last two
run the real console script."""

from __future__ import annotations

import socket
import subprocess

import pytest

from mis_pipeline.cli.main import _parser, main
from mis_pipeline.lib.upn import make_upn
from mis_pipeline_tests.cli.test_cli import CLI

SQLITE = pytest.mark.parametrize("warehouse_url", ["sqlite"], indirect=True)

UPN = make_upn("999", "9999", 2020, 1)
NOT_REGISTERED = (
    "school 999999 is not registered (see `mis-pipeline schools list`; `mis-pipeline schools discover` "
    "registers the schools that approved us)"
)
PORT_IN_USE = (
    "port PORT on 127.0.0.1 is already in use: stop what listens there, or choose another with --port"
)
NO_KEY = "MIS_ENV=production and MIS_MASTER_KEY is not set: refusing to start"
PRODUCTION = {"MIS_ENV": "production", "MIS_MASTER_KEY": None}

# (argv, environment changes, exit code, the one line after "mis-pipeline" or "mis-pipeline <command>")
CASES = [
    (
        ["sync", "--max-workers", "0"],
        {},
        2,
        "mis-pipeline sync: argument --max-workers: 0 is not a positive number (1 or more) (see `mis-pipeline sync --help`)",
    ),
    (
        ["sync", "--max-workers", "-3"],
        {},
        2,
        "mis-pipeline sync: argument --max-workers: -3 is not a positive number (1 or more) (see `mis-pipeline sync --help`)",
    ),
    (
        ["sync", "--max-workers", "four"],
        {},
        2,
        "mis-pipeline sync: argument --max-workers: 'four' is not a whole number (see `mis-pipeline sync --help`)",
    ),
    (
        ["retention", "--within", "-5"],
        {},
        2,
        "mis-pipeline retention: argument --within: -5 is not 0 or more (see `mis-pipeline retention --help`)",
    ),
    (
        ["keys", "rotate", "--batch-size", "0"],
        {},
        2,
        "mis-pipeline keys rotate: argument --batch-size: 0 is not a "
        "positive number (1 or more) (see `mis-pipeline keys rotate --help`)",
    ),
    (["audit", "999999"], {}, 2, f"mis-pipeline: {NOT_REGISTERED}"),
    (["audit", "--format", "pdf"], {}, 2, "mis-pipeline: --format pdf needs --out FILE"),
    (["changes", "999999"], {}, 2, f"mis-pipeline: {NOT_REGISTERED}"),
    (["schools", "set", "999999", "--pause"], {}, 2, f"mis-pipeline: {NOT_REGISTERED}"),
    (["schools", "import-gias", "/nowhere/gias.csv"], {}, 2, "mis-pipeline: no such file: /nowhere/gias.csv"),
    (["sar", "999999", "--upn", UPN, "--out", "OUT/sar.json"], {}, 2, f"mis-pipeline: {NOT_REGISTERED}"),
    (
        ["sar", "999999", "--upn", UPN, "--format", "csv", "--out", "OUT/sar.csv"],
        {},
        2,
        "mis-pipeline: --format csv writes a zip of CSV files, one per section: name the output file *.zip (got sar.csv)",
    ),
    (
        ["purge", "--as-of", "tomorrow"],
        {},
        2,
        "mis-pipeline: --as-of takes a date as YYYY-MM-DD (got 'tomorrow')",
    ),
    (
        ["share", "--partner", "parish-7"],
        {},
        2,
        "mis-pipeline: unknown partner 'parish-7': la-<LA code>, trust-<trust UID> or diocese-<diocese code>",
    ),
    (["--as", "", "status"], {}, 2, "mis-pipeline: --as takes a name of 1 to 64 characters"),
    (
        ["simulator", "serve", "--port", "70000"],
        {},
        2,
        "mis-pipeline simulator serve: argument --port: 70000 is not a "
        "port number (1 to 65535) (see `mis-pipeline simulator serve --help`)",
    ),
    (
        ["simulator", "serve", "--schools", "0"],
        {},
        2,
        "mis-pipeline simulator serve: argument --schools: 0 is not a "
        "positive number (1 or more) (see `mis-pipeline simulator serve --help`)",
    ),
    (
        ["simulator", "serve", "--fault-rate", "2"],
        {},
        2,
        "mis-pipeline simulator serve: argument --fault-rate: 2.0 is "
        "not between 0 and 1 (see `mis-pipeline simulator serve --help`)",
    ),
    (["simulator", "serve", "--port", "PORT"], {}, 1, f"mis-pipeline: {PORT_IN_USE}"),
    (["ui", "--port", "PORT"], {}, 1, f"mis-pipeline: {PORT_IN_USE}"),
    (
        ["status"],
        {"MIS_DATABASE_URL": "warehouse on the server"},
        1,
        "mis-pipeline: MIS_DATABASE_URL is not a usable database URL (Could not parse SQLAlchemy URL from given URL "
        "string): fix MIS_DATABASE_URL, e.g. postgresql+psycopg://user@host:5432/dbname, or unset it for the embedded "
        "SQLite warehouse",
    ),
    (
        ["audit"],
        {"MIS_DATABASE_URL": "postgresql://ops:s3cret@127.0.0.1:1/warehouse"},
        1,
        "mis-pipeline: cannot connect to the warehouse database (postgresql://ops:***@127.0.0.1:1/warehouse): connection "
        'failed: connection to server at "127.0.0.1", port 1 failed: Connection refused; check that the server is '
        "running, or fix MIS_DATABASE_URL",
    ),
    (["status"], PRODUCTION, 1, f"mis-pipeline: {NO_KEY}"),
    (["schools", "list"], PRODUCTION, 1, f"mis-pipeline: {NO_KEY}"),
    (["audit", "100002"], PRODUCTION, 1, f"mis-pipeline: {NO_KEY}"),
    (["keys", "status"], PRODUCTION, 1, f"mis-pipeline: {NO_KEY}"),
]


@pytest.fixture(scope="module")
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield str(sock.getsockname()[1])


def run_main(argv: list[str], capsys) -> tuple[int, str]:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        code = exit_.code
    return code, capsys.readouterr().err


@SQLITE
@pytest.mark.parametrize(("argv", "env", "code", "line"), CASES, ids=[" ".join(c[0]) for c in CASES])
def test_a_bad_request_or_environment_gets_one_line_and_the_documented_exit_code(
    argv, env, code, line, mis_env, busy_port, tmp_path, capsys, monkeypatch
):
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    argv = [a.replace("PORT", busy_port).replace("OUT", str(tmp_path)) for a in argv]
    exit_code, err = run_main(argv, capsys)
    assert (exit_code, err.splitlines()) == (code, [line.replace("PORT", busy_port)])


def test_every_option_of_every_command_says_what_it_does():
    undocumented = []

    def walk(parser, path):
        for action in parser._actions:
            if action.choices and hasattr(action, "_name_parser_map"):
                for name, sub in action._name_parser_map.items():
                    walk(sub, [*path, name])
            elif action.option_strings and action.dest != "help" and not action.help:
                undocumented.append(" ".join([*path, action.option_strings[-1]]))

    walk(_parser(), ["mis-pipeline"])
    assert undocumented == []


def test_help_shows_each_options_default():
    sync_help = _parser()._subparsers._group_actions[0].choices["sync"].format_help()
    assert "schools synced at once in a run (default: 4)" in " ".join(sync_help.split())
    serve = _parser()._subparsers._group_actions[0].choices["simulator"]
    serve_help = " ".join(serve._subparsers._group_actions[0].choices["serve"].format_help().split())
    for shown in (
        "(default: 127.0.0.1)",
        "(default: 8710)",
        "(default: 6)",
        "(default: 40)",
        "(default: 0.0)",
    ):
        assert shown in serve_help


@SQLITE
def test_the_console_script_names_an_unreachable_connector_and_its_setting(mis_env):
    env = {
        **__import__("os").environ,
        "WONDE_API_URL": "http://127.0.0.1:1/v1.0",
        "XPORTER_SCHOOL_SECRETS": "",
    }
    result = subprocess.run([CLI, "sync"], capture_output=True, text=True, timeout=120, env=env)
    assert (result.returncode, result.stderr.splitlines()) == (
        1,
        [
            "mis-pipeline: school discovery failed: cannot connect to Wonde at http://127.0.0.1:1/v1.0: Connection "
            "refused; check that it is running, or fix WONDE_API_URL"
        ],
    )


@SQLITE
def test_the_console_script_answers_a_malformed_database_url_without_a_traceback(mis_env):
    env = {**__import__("os").environ, "MIS_DATABASE_URL": "postgres//nowhere"}
    result = subprocess.run([CLI, "status", "--json"], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 1
    [line] = result.stderr.splitlines()
    assert (
        line.startswith("mis-pipeline: MIS_DATABASE_URL is not a usable database URL") and result.stdout == ""
    )
