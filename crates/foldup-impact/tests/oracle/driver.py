"""Runs dbt in one Python process for foldup-impact's oracle test.

usage: python driver.py BASE_DIR OUT_JSON CASE_DIR...

Parses BASE_DIR, then in each CASE_DIR lists `state:modified` (without the tests indirect
selection would add: they are downstream) and `state:modified+` against the base's manifest (dbt's own answer), leaving the case's manifest in CASE_DIR/target. Writes
{"case folder name": {"modified": [unique ids], "modified_plus": [unique ids]}} to OUT_JSON.
"""
import json
import os
import sys

from dbt.cli.main import dbtRunner


def invoke(runner, args, project):
    result = runner.invoke(
        args + ["--project-dir", project, "--profiles-dir", project, "--quiet"]
    )
    if not result.success:
        raise SystemExit(f"dbt {' '.join(args)} failed in {project}: {result.exception}")
    return result.result


def listed(runner, project, state, selector, indirect):
    lines = invoke(
        runner,
        [
            "ls",
            "--state", state,
            "--select", selector,
            "--resource-type", "all",
            "--output", "json",
            "--output-keys", "unique_id",
            "--indirect-selection", indirect,
        ],
        project,
    )
    return sorted(json.loads(line)["unique_id"] for line in lines or [])


def main():
    base, out = os.path.abspath(sys.argv[1]), sys.argv[2]
    cases = [os.path.abspath(case) for case in sys.argv[3:]]
    runner = dbtRunner()
    invoke(runner, ["parse"], base)
    state = os.path.join(base, "target")
    answers = {}
    for case in cases:
        answers[os.path.basename(case)] = {
            "modified": listed(runner, case, state, "state:modified", "empty"),
            "modified_plus": listed(runner, case, state, "state:modified+", "eager"),
        }
    with open(out, "w") as f:
        json.dump(answers, f)


main()
