"""The bad-input table: every row is an input a user (or another machine) may hand simpulse, and
what must happen — a clear one-line error with exit code 2, or a documented graceful outcome.
Never a traceback, and nothing already recorded is lost."""

from __future__ import annotations

import json

import pytest

from conftest import Project, scratch_project


@pytest.fixture(scope="module")
def built(tmp_path_factory, sim_toolchain) -> Project:
    proj = scratch_project(tmp_path_factory.mktemp("badinput"), sim_toolchain)
    proj.simpulse("build", "--seed", "2", check=0)
    return proj


def one_line_error(p, *needles):
    assert p.returncode == 2, (p.returncode, p.stdout[-500:], p.stderr[-1500:])
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    assert len(lines) == 1, p.stderr
    assert "Traceback" not in p.stderr and lines[0].startswith("simpulse: error:")
    for n in needles:
        assert n.lower() in lines[0].lower(), (n, lines[0])


def log_bytes(proj: Project) -> bytes:
    return (proj.state / "events.log").read_bytes()


# -- .lean files: any bytes in, a context out (graceful) ---------------------------------------
LEAN_FILES = {
    "empty": b"",
    "binary": bytes(range(256)) * 64,
    "invalid UTF-8": b"theorem t : 1 = 1 := by simp\n\xff\xfe\xc3(\n-- \x80 simp omega\n",
    "50 MB": b"theorem t (n : Nat) : n + 0 = n := by simp\n" * (50 * 1024 * 1024 // 44),
}


@pytest.mark.parametrize("name", list(LEAN_FILES))
def test_odd_lean_files_get_a_context(built, name, tmp_path):
    path = tmp_path / "Odd.lean"
    path.write_bytes(LEAN_FILES[name])
    p = built.simpulse("classify", str(path), "--json", check=0)
    data = json.loads(p.stdout)
    entry = data[0] if isinstance(data, list) else data
    assert entry["context"]
    p = built.simpulse("recommend", str(path), "--json", check=0)
    assert json.loads(p.stdout)["strategy"]


# -- simpulse.toml --------------------------------------------------------------------------------
TOML_CASES = [
    ("syntax error", "[simpulse\nmode = 'auto'\n", "not valid TOML"),
    ("unknown key", "[simpulse]\nturbo = true\n", "unknown key 'turbo'"),
    ("unknown section", "[simpulse]\n[extras]\nx = 1\n", "unknown section"),
    ("wrong type", "[simpulse]\nexplore_budget = 'lots'\n", "explore_budget must be float"),
    ("out of range", "[simpulse]\nexplore_budget = 7\n", "between 0 and 1"),
    ("unknown mode", "[simpulse]\nmode = 'reckless'\n", "mode must be one of"),
    ("unsafe strategy", "[strategies.fast]\noptions = { 'debug.skipKernelTC' = true }\n", "never allowed"),
    ("code-loading strategy", "[strategies.fast]\nargs = ['--load-dynlib=evil.so']\n", "never allowed"),
    ("unknown option", "[strategies.fast]\noptions = { 'turbo.mode' = true }\n", "not on simpulse's allowlist"),
    ("unknown enabled strategy", "[simpulse]\nenabled = ['warp-speed']\n", "unknown strategy 'warp-speed'"),
    ("shadowing a built-in", "[strategies.no-async]\noptions = { 'Elab.async' = true }\n", "built in"),
]


@pytest.mark.parametrize("name,text,needle", TOML_CASES, ids=[c[0] for c in TOML_CASES])
def test_bad_simpulse_toml(built, name, text, needle):
    cfg = built.root / "simpulse.toml"
    before = log_bytes(built)
    cfg.write_text(text)
    try:
        # a build is never stopped by a configuration mistake: one line says what is wrong
        # (and the build is plain `lake build`, or the refused strategy is left out)
        p = built.simpulse("build")
        assert p.returncode == 0 and "Build completed successfully" in p.stdout and "Traceback" not in p.stderr
        assert sum(needle in ln for ln in p.stderr.splitlines()) == 1, p.stderr
        # the tools to diagnose it show it and fail
        one_line_error(built.simpulse("config", "--show"), needle)
    finally:
        cfg.unlink()
    assert log_bytes(built) == before          # nothing recorded, nothing lost


# -- record ---------------------------------------------------------------------------------------
RECORD_CASES = [
    ("negative", ["simp_heavy", "no-linters", "-1", "1"], "compile time"),
    ("zero", ["simp_heavy", "no-linters", "1", "0"], "compile time"),
    ("NaN", ["simp_heavy", "no-linters", "nan", "1"], "compile time"),
    ("infinite", ["simp_heavy", "no-linters", "1", "inf"], "compile time"),
    ("1e308", ["arith", "no-linters", "1", "1e308"], "at most 86400"),
    ("1e308 against 1e-308", ["arith", "no-linters", "1e308", "1e-308"], "at most 86400"),
    ("a tiny time", ["arith", "no-linters", "1", "1e-308"], "more than 1e-06"),
    ("not a number", ["simp_heavy", "no-linters", "fast", "1"], ""),
    ("unknown context", ["hyperspace", "no-linters", "1", "1"], "unknown context"),
    ("unknown strategy", ["simp_heavy", "warp-speed", "1", "1"], "unknown strategy"),
]


@pytest.mark.parametrize("name,args,needle", RECORD_CASES, ids=[c[0] for c in RECORD_CASES])
def test_bad_record(built, name, args, needle):
    before = log_bytes(built)
    p = built.simpulse("record", "Fixtures/Arith.lean", *args)
    if name == "not a number":       # typer's own usage error: exit 2, not a traceback
        assert p.returncode == 2 and "Traceback" not in p.stderr
    else:
        one_line_error(p, needle)
    assert log_bytes(built) == before


@pytest.mark.parametrize("path", ["Fixtures/Missing.lean", "README.md", "Fixtures"])
def test_record_needs_a_lean_file_that_exists(built, path):
    before = log_bytes(built)
    one_line_error(built.simpulse("record", path, "arith", "no-async", "2", "1"), "not a .lean file")
    assert log_bytes(built) == before


def test_record_refuses_a_name_that_is_not_utf8(built):
    import os
    import subprocess
    import sys
    before = log_bytes(built)
    name = os.fsencode("Fixtures/") + b"\xff\xfe.lean"
    (built.root / os.fsdecode(name)).write_text("theorem t : 1 = 1 := rfl\n")
    p = subprocess.run([os.fsencode(sys.executable), b"-m", b"simpulse", b"record", name, b"arith", b"no-async",
                        b"2", b"1"], cwd=built.root, env=built.env, capture_output=True, text=True)
    one_line_error(p, "not valid UTF-8")
    assert log_bytes(built) == before


# -- state directories and build arguments -----------------------------------------------------
def test_missing_state_directory(built, tmp_path):
    for cmd in (["stats"], ["export", str(tmp_path / "o.json")], ["learnings"], ["report"], ["monitor", "--once"]):
        one_line_error(built.simpulse(*cmd, "--state-dir", str(tmp_path / "nowhere")), "no simpulse state")


def test_unknown_names_on_the_command_line(built):
    one_line_error(built.simpulse("build", "--strategy", "warp-speed"), "unknown strategy 'warp-speed'")
    one_line_error(built.simpulse("build", "--policy", "psychic"), "policy must be one of")
    one_line_error(built.simpulse("build", "--seed", "many"), "--seed")


def test_missing_lean_file(built):
    one_line_error(built.simpulse("recommend", "Nope.lean"))
    one_line_error(built.simpulse("classify", "Nope.lean"))


# -- export files ---------------------------------------------------------------------------------
def test_bad_export_files(built, tmp_path):
    good = tmp_path / "good.json"
    built.simpulse("export", str(good), check=0)
    doc = json.loads(good.read_text())
    before = log_bytes(built)
    cases = {
        "truncated": good.read_bytes()[: len(good.read_bytes()) // 2],
        "not JSON": b"\x00\x01binary",
        "newer schema": json.dumps(dict(doc, version=99)).encode(),
        "hostile strategy": json.dumps(dict(doc, strategies=doc["strategies"] + [
            {"name": "evil", "options": {"debug.skipKernelTC": "true"}}])).encode(),
        "unknown field": json.dumps(dict(doc, payload="rm -rf /")).encode(),
        "huge": b'{"format": "simpulse-export", "pad": "' + b"x" * (21 * 1024 * 1024) + b'"}',
    }
    for name, data in cases.items():
        f = tmp_path / f"{name}.json"
        f.write_bytes(data)
        one_line_error(built.simpulse("import", str(f), "--weight", "1"))
    assert log_bytes(built) == before            # nothing merged
