"""Issue 22, as a new user meets simpulse: trying it without Lean, trusting its output.

Every test drives the CLI as a user would (a subprocess, exit codes, output at 80 columns)
on the SIMULATED toolchain.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import FIXTURES, ROOT, Project, scratch_project

SIMPULSE = [sys.executable, "-m", "simpulse"]
CUT = re.compile(r"\w…")          # rich's ellipsis after a cut word or number


def run(*args, cwd=None, env=None, timeout=300):
    e = dict(os.environ, COLUMNS="80")
    e.update(env or {})
    for var in ("SIMPULSE_STATE_DIR", "LAKE_OVERRIDE_LEAN", "LEAN_SYSROOT", "LEAN"):
        e.pop(var, None)
    return subprocess.run([*SIMPULSE, *args], cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout)


def one_line_error(p, *, contains=""):
    assert p.returncode == 2, (p.returncode, p.stdout[-2000:], p.stderr[-2000:])
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("simpulse: error:"), p.stderr
    assert "Traceback" not in p.stderr and contains in p.stderr, p.stderr


def fits_80(text: str) -> None:
    for line in text.splitlines():
        assert len(line) <= 80, line
        assert not CUT.search(line), f"a cut value: {line!r}"


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim_toolchain) -> Project:
    proj = scratch_project(tmp_path_factory.mktemp("ux"), sim_toolchain)
    for seed in (1, 2):
        shutil.rmtree(proj.root / ".lake", ignore_errors=True)
        proj.simpulse("build", "--seed", str(seed), check=0)
    # and strategy failures caught by the fallback (no-simprocs breaks Fixtures.Literals)
    shutil.rmtree(proj.root / ".lake", ignore_errors=True)
    proj.simpulse("build", "--seed", "3", "--profile", "aggressive", "--strategy", "no-simprocs", check=0)
    return proj


def sim(proj: Project, *args, **kw):
    return proj.simpulse(*args, env={"COLUMNS": "80", **kw.pop("env", {})}, **kw)


# --------------------------------------------------------------------------- trying it

def test_try_builds_a_copy_of_the_shipped_fixtures_on_the_simulated_toolchain(tmp_path):
    burned = tmp_path / "physical.jsonl"
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "PATH": os.environ.get("PATH", ""),
           "SIMPULSE_SIM_PHYSICAL_LOG": str(burned)}
    p = run("try", "--into", str(tmp_path / "w"), "--scale", "0.03", env=env, cwd=tmp_path)
    assert p.returncode == 0, (p.stdout[-3000:], p.stderr[-3000:])
    lines = p.stdout.strip().splitlines()
    assert "SIMULATED" in lines[0] and "SIMULATED" in p.stdout.split("simulated build 1/1")[1]
    assert "every number above is simulated" in p.stdout
    copy = tmp_path / "w" / "fixtures"
    assert (copy / ".simpulse").is_dir() and (tmp_path / "w" / "simulated-toolchain" / "bin" / "lake").is_file()
    assert f"cd {copy} && simpulse stats" in p.stdout
    # the physical simulated lean (its time burned as CPU, as the build objective assumes of
    # Lean), and the command it prints for another build keeps it so
    assert len(burned.read_text().splitlines()) >= 16
    assert "SIMPULSE_SIM_PHYSICAL=1 PATH=" in " ".join(p.stdout.split())
    # what it prints to do next works, and labels the numbers simulated
    s = run("stats", cwd=copy, env=env)
    assert s.returncode == 0 and "SIMULATED" in s.stdout
    # a second try continues learning in the same copy
    n = len(Project(copy, tmp_path).events())
    p = run("try", "--into", str(tmp_path / "w"), "--scale", "0.03", env=env, cwd=tmp_path)
    assert p.returncode == 0 and "continuing" in p.stdout
    assert len(Project(copy, tmp_path).events()) > n


def test_try_on_a_project_copies_it_and_leaves_it_alone(tmp_path):
    src = tmp_path / "mine"
    shutil.copytree(FIXTURES, src, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    before = sorted(str(p.relative_to(src)) for p in src.rglob("*"))
    burned = tmp_path / "physical.jsonl"
    # the sleep-based simulated lean when the user's environment asks for it
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache"), "SIMPULSE_SIM_PHYSICAL": "0",
           "SIMPULSE_SIM_PHYSICAL_LOG": str(burned)}
    p = run("try", str(src), "--into", str(tmp_path / "w"), "--scale", "0.03", env=env, cwd=tmp_path)
    assert p.returncode == 0, p.stderr[-3000:]
    assert "SIMULATED" in p.stdout and (tmp_path / "w" / "mine" / ".simpulse").is_dir()
    assert not burned.exists() and "take the time of a cost model" in " ".join(p.stdout.split())
    assert sorted(str(p.relative_to(src)) for p in src.rglob("*")) == before


def test_try_refuses_what_it_cannot_use(tmp_path):
    one_line_error(run("try", str(tmp_path / "nope"), cwd=tmp_path), contains="no such directory")
    one_line_error(run("try", str(tmp_path), cwd=tmp_path), contains="not a Lake project")
    src = tmp_path / "p"
    shutil.copytree(FIXTURES, src, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    one_line_error(run("try", str(src), "--into", str(src / "w"), cwd=tmp_path), contains="inside the project")
    # the copy would land on the project itself, or on a directory simpulse try did not make
    one_line_error(run("try", str(src), "--into", str(tmp_path), cwd=tmp_path), contains="where the project is")
    (tmp_path / "w2" / "p").mkdir(parents=True)
    (tmp_path / "w2" / "p" / "precious.txt").write_text("keep me")
    one_line_error(run("try", str(src), "--into", str(tmp_path / "w2"), cwd=tmp_path), contains="not made by")
    assert (tmp_path / "w2" / "p" / "precious.txt").read_text() == "keep me"
    assert not (src / ".simpulse").exists() and not (src / ".lake").exists()
    one_line_error(run("try", "--builds", "0", cwd=tmp_path), contains="--builds")


def test_the_package_ships_what_try_and_the_help_point_to():
    from simpulse.commands._common import DOCS
    from simpulse.commands.try_ import shipped_fixtures
    assert (shipped_fixtures() / "lakefile.toml").is_file() and (shipped_fixtures() / "Fixtures" / "Arith.lean").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    for glob in ("docs/json/*.md", "docs/contexts.md", "docs/cost-model.md", "lean_fixtures/*/*.lean"):
        assert f'"{glob}"' in text
    for cmd in ("classify", "stats"):
        p = run(cmd, "--help", env={"COLUMNS": "400"})
        paths = re.findall(r"(/\S+?\.md)", p.stdout)
        assert paths, p.stdout
        for path in paths:
            path = path.replace("<command>", cmd)
            assert Path(path).is_file() and Path(path).is_relative_to(DOCS), path


def test_demo_removes_its_temporary_directory_or_keeps_it(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path / "tmp"), SIMPULSE_DEMO_SIMULATED="1", SIMPULSE_SIM_SCALE="0.03")
    (tmp_path / "tmp").mkdir()
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--rounds", "1"], env=env,
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr[-2000:]
    assert "SIMULATED" in p.stdout and "removed" in p.stdout and "KEEP=DIR" in p.stdout
    assert list((tmp_path / "tmp").iterdir()) == []
    keep = tmp_path / "kept"
    p = subprocess.run([sys.executable, str(ROOT / "scripts" / "demo.py"), "--rounds", "1", "--keep", str(keep)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0 and (keep / "fixtures" / ".simpulse").is_dir()
    make = shutil.which("make")
    if make:
        dry = subprocess.run([make, "-n", "-C", str(ROOT), "demo", "KEEP=/x y", "-o", ".venv/.installed-stamp"],
                             capture_output=True, text=True)
        assert "scripts/demo.py --keep '/x y'" in dry.stdout, dry.stdout + dry.stderr


# --------------------------------------------------------------------------- the command line itself

def test_version_and_short_help():
    from simpulse import __version__
    for flag in ("--version", "-V"):
        p = run(flag)
        assert p.returncode == 0 and p.stdout.startswith(f"simpulse {__version__}"), p
    p = run("-h")
    assert p.returncode == 0 and "Usage" in p.stdout and "try" in p.stdout
    p = run("stats", "-h")
    assert p.returncode == 0 and "--zero" in p.stdout


def test_a_command_imports_its_own_module_only():
    """`simpulse stats` does not pay for importing the other sixteen commands; the top-level
    help, and a word that is no command, still see them all."""
    from simpulse.cli import COMMANDS, make_app

    def names(app):
        return sorted(c.name for c in app.registered_commands)
    assert names(make_app("stats")) == ["stats"]
    assert names(make_app("import")) == ["import"] and names(make_app("try")) == ["try"]
    every = names(make_app(None))
    assert len(every) == len(COMMANDS) and names(make_app("stat")) == every == names(make_app("--help"))


def test_read_commands_keep_numpy_to_one_blas_thread_unless_the_user_said_otherwise(tmp_path, monkeypatch):
    """A command that runs no toolchain sets one BLAS thread before numpy loads (simpulse's
    matrices are small: a pool spins, most of all on a machine a build keeps busy); a value the
    user set stands; a command that runs Lean or Lake leaves the environment as it was."""
    import os

    from simpulse import cli
    for name in cli.BLAS_THREADS:
        monkeypatch.setenv(name, "unset-by-the-test")      # (records the variable, restored after)
        monkeypatch.delenv(name)
    monkeypatch.setenv("OMP_NUM_THREADS", "4")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit):
        cli.main(["strategies"])
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["MKL_NUM_THREADS"] == "1"
    assert os.environ["OMP_NUM_THREADS"] == "4"
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    with pytest.raises(SystemExit):
        cli.main(["bench", "--help"])
    assert "OPENBLAS_NUM_THREADS" not in os.environ and set(cli.RUNS_TOOLCHAIN) <= {c.rstrip("_") for c in cli.COMMANDS}


@pytest.mark.parametrize("args,contains", [
    (("recommend",), "recommend: Missing argument"),
    (("import", "x.json", "--weight", "abc"), "--weight"),
    (("stats", "-s"), "No such option: -s"),
    (("report", "--html", "."), "--html"),
    (("frobnicate",), "No such command"),
    (("--frobnicate",), "No such option"),
])
def test_usage_errors_are_one_line(tmp_path, args, contains):
    one_line_error(run(*args, cwd=tmp_path), contains=contains)


@pytest.mark.parametrize("cmd", ["classify", "recommend", "bench"])
def test_non_lean_files_are_refused(built, cmd):
    for name in ("README.md", "lakefile.toml"):
        one_line_error(sim(built, cmd, name), contains="not a Lean source file")


@pytest.mark.parametrize("cmd", [("stats",), ("report",), ("monitor", "--once"), ("strategies",), ("-h",)])
def test_a_closed_pipe_is_not_an_error(built, cmd):
    r, w = os.pipe()
    os.close(r)                          # the reader is gone before the first line is written
    try:
        p = subprocess.run([*SIMPULSE, *cmd], cwd=built.root, env=dict(built.env, COLUMNS="80"),
                           stdout=w, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(w)
    assert p.returncode == 0 and p.stderr == "", (p.returncode, p.stderr)


def test_an_error_with_output_to_dev_null_keeps_its_exit_code(tmp_path):
    with open(os.devnull, "w") as null:
        p = subprocess.run([*SIMPULSE, "stats", "--state-dir", str(tmp_path / "none")], stdout=null,
                           stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert p.returncode == 2 and "no simpulse state" in p.stderr


# --------------------------------------------------------------------------- trusting its output

def test_recommend_is_what_the_build_runs_without_exploring(built):
    from simpulse.commands._common import learner
    outs = {sim(built, "recommend", "Fixtures/SimpHeavy.lean", "--json", check=0).stdout for _ in range(3)}
    datas = [json.loads(o) for o in outs]
    assert len({d["strategy"] for d in datas}) == 1          # not random
    d = datas[0]
    assert d["sampled"] is False and d["explore"] is False
    lrn = learner(built.state)
    assert d["strategy"] == lrn.exploit("simp_heavy", module="Fixtures.SimpHeavy", source_hash=d["source_hash"])
    arms = d["arms"]
    assert [a["speedup"] for a in arms] == sorted((a["speedup"] for a in arms), reverse=True)
    assert all("break_risk" in a and 0 <= a["break_risk"] <= 1 and "why_not" in a for a in arms)
    assert [a["why_not"] is None for a in arms].count(True) == 1
    assert d["leader"] == arms[0]["strategy"]
    assert d["why_not"] and d["why_not"]["strategy"] != d["strategy"]
    text = sim(built, "recommend", "Fixtures/SimpHeavy.lean", check=0).stdout
    assert f"a build runs: {d['strategy']}" in text and f"why not {d['why_not']['strategy']}:" in text
    assert "risk" in text and "SIMULATED" in text
    fits_80(text)


def test_recommend_under_aggressive_shows_the_break_risk(built):
    d = json.loads(sim(built, "recommend", "Fixtures/Literals.lean", "--json", check=0,
                       env={"SIMPULSE_PROFILE": "aggressive"}).stdout)
    by = {a["strategy"]: a for a in d["arms"]}
    assert by["no-simprocs"]["may_break"] and by["no-simprocs"]["break_risk"] > 0
    assert by["baseline"]["break_risk"] == 0 and not by["no-async"]["may_break"]


def test_recommend_explore_samples_and_seed_needs_it(built):
    p = sim(built, "recommend", "Fixtures/Arith.lean", "--explore", "--seed", "4", "--json", check=0)
    d = json.loads(p.stdout)
    assert d["sampled"] is True and isinstance(d["explore"], bool)
    one_line_error(sim(built, "recommend", "Fixtures/Arith.lean", "--seed", "4"), contains="--explore")


def test_bench_speedups_read_as_everywhere_and_fit_80_columns(built):
    p = sim(built, "bench", "Fixtures/Tiny.lean", "--runs", "2", "--warmup", "0", "--no-learn", "--json", check=0)
    d = json.loads(p.stdout)
    for a in d["arms"]:
        if a["speedup"] is not None:
            assert a["speedup"] == pytest.approx(1 / a["ratio"])
            lo, hi = a["speedup_ci"]
            assert lo <= a["speedup"] <= hi
    p = sim(built, "bench", "Fixtures/Tiny.lean", "--runs", "2", "--warmup", "0", "--no-learn", check=0)
    flat = " ".join(p.stdout.split())
    assert p.returncode == 0 and "> 1 is faster" in flat and "< 1 is faster" not in flat
    assert "1 warm-up round" not in p.stdout and "round(s)" not in p.stdout
    fits_80(p.stdout)


def test_bench_checks_where_results_go_before_measuring(built, tmp_path):
    log = tmp_path / "argv.jsonl"
    env = {"SIMPULSE_SIM_ARGV_LOG": str(log)}
    one_line_error(sim(built, "bench", "Fixtures/Tiny.lean", "--export-json", str(tmp_path / "no" / "b.json"), env=env),
                   contains="--export-json")
    one_line_error(sim(built, "bench", "Fixtures/Tiny.lean", "--export-markdown", str(tmp_path), env=env),
                   contains="is a directory")
    afile = tmp_path / "state-is-a-file"
    afile.write_text("")
    one_line_error(sim(built, "bench", "Fixtures/Tiny.lean", "--state-dir", str(afile), env=env),
                   contains="--no-learn")
    compiles = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert not [c for c in compiles if c.get("kind") == "compile"]       # nothing was measured


def test_stats_zero_zeroes_every_counter_shown(built, tmp_path):
    proj = built.copy(tmp_path / "z")
    shutil.copytree(built.state, proj.state)
    before = json.loads(sim(proj, "stats", "--json", check=0).stdout)
    assert before["totals"]["compilations"] > 0 and before["time_saved"]["seconds"] != 0
    p = sim(proj, "stats", "--zero", check=0)
    assert p.returncode == 0 and "zeroed" in p.stdout
    after = json.loads(sim(proj, "stats", "--json", check=0).stdout)
    assert after["zeroed"] is True
    assert after["time_saved"] == {"seconds": 0.0, "ci": [0.0, 0.0]}
    assert after["totals"]["compilations"] == 0 and after["regret"]["cumulative_seconds"] == 0
    assert after["safety"]["strategy_failures_caught"] == 0 and after["safety"]["slower_than_baseline"] == 0
    assert after["leaderboard"] == before["leaderboard"]       # what was learned is kept
    text = sim(proj, "stats", check=0).stdout
    assert "time saved against baseline: 0ms" in text


@pytest.mark.parametrize("cmd", [("stats",), ("report",), ("monitor", "--once"), ("learnings",), ("strategies",)])
def test_numbers_are_never_cut_at_80_columns(built, cmd):
    p = sim(built, *cmd, check=0)
    assert p.returncode == 0, p.stderr
    fits_80(p.stdout)


def test_established_is_not_the_confident_mode(built):
    text = sim(built, "stats", check=0).stdout
    assert "✓ established" in text and "confident" not in text
    report = sim(built, "report", check=0).stdout
    assert "established" in report and "confident" not in report
    readme = (ROOT / "README.md").read_text()
    assert "**established**" in readme and "**`confident` mode**" in readme


def test_plurals(built):
    text = sim(built, "stats", check=0).stdout + sim(built, "monitor", "--once", check=0).stdout
    assert not re.search(r"\b1 (strategy failures|compiles|contexts|modules|compilations)\b", text), text
    assert "(s)" not in text
    from simpulse.commands._common import plural
    assert plural(1, "strategy failure") == "1 strategy failure" and plural(2, "strategy failure") == "2 strategy failures"


def test_readme_first_screen_shows_how_to_try_it_without_lean():
    readme = (ROOT / "README.md").read_text().splitlines()
    first = "\n".join(readme[:30])
    assert "simpulse try" in first and "without Lean" in first
    text = "\n".join(readme)
    assert "~/.cache/simpulse/facades/" in text and "fsync'd once per build" in text


def test_without_lean_build_points_to_try(tmp_path):
    src = tmp_path / "p"
    shutil.copytree(FIXTURES, src, ignore=shutil.ignore_patterns(".lake", ".simpulse"))
    p = run("build", cwd=src, env={"PATH": "/usr/bin:/bin", "XDG_CACHE_HOME": str(tmp_path / "c")})
    one_line_error(p, contains="simpulse try")
