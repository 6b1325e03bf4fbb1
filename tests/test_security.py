"""Security properties that hold for the whole code base."""

import ast
import stat
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "simpulse"


def _calls(tree):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node


# exec of code, never of text: the shim's bundle runs the compiled code of simpulse's own modules,
# as the import system does, read from a file only this user can write (tests/test_shim_bundle.py)
EXEC_OK = {"shim/bundle.py"}


def test_no_shell_anywhere():
    """No subprocess call uses a shell, and nothing calls os.system / os.popen: arguments are
    always passed as a list."""
    offenders = []
    for path in PKG.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for call in _calls(tree):
            for kw in call.keywords:
                if kw.arg == "shell" and not (isinstance(kw.value, ast.Constant) and kw.value.value is False):
                    offenders.append(f"{path}:{call.lineno} shell=")
            f = call.func
            if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) and f.value.id == "os" \
                    and f.attr in ("system", "popen"):
                offenders.append(f"{path}:{call.lineno} os.{f.attr}")
            if isinstance(f, ast.Name) and f.id in ("eval", "exec") and path.relative_to(PKG).as_posix() not in EXEC_OK:
                offenders.append(f"{path}:{call.lineno} {f.id}")
    assert offenders == []


def test_state_directory_is_owner_only(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    mode = stat.S_IMODE(project.state.stat().st_mode)
    assert mode & 0o077 == 0, oct(mode)
    for name in ("events.log", "snapshot.json"):
        p = project.state / name
        if p.exists():
            assert stat.S_IMODE(p.stat().st_mode) & 0o077 == 0, (name, oct(p.stat().st_mode))


def test_a_state_dir_given_by_mistake_is_left_alone(project, tmp_path):
    """`--state-dir` naming a directory of other files (a home directory, by mistake): every
    command refuses it in one line before changing anything in it, and a build runs plain
    `lake build` (it says why) instead of making the directory a state."""
    import os
    mine = tmp_path / "mine"
    mine.mkdir()
    os.chmod(mine, 0o755)
    (mine / "thesis.tex").write_text("\\documentclass{article}")
    for args in (["stats"], ["report"], ["monitor", "--once"], ["learnings"], ["export", str(tmp_path / "x.json")],
                 ["recommend", "Fixtures/Basic.lean"], ["record", "Fixtures/Basic.lean", "tiny", "no-async", "1", "1"]):
        p = project.simpulse(*args, "--state-dir", str(mine))
        assert p.returncode == 2, (args, p.stdout[-500:], p.stderr[-500:])
        assert "not a simpulse state directory" in p.stderr and len(p.stderr.strip().splitlines()) == 1, p.stderr
    p = project.simpulse("build", "--state-dir", str(mine))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "not a simpulse state directory" in p.stderr
    assert stat.S_IMODE(mine.stat().st_mode) == 0o755
    assert sorted(x.name for x in mine.iterdir()) == ["thesis.tex"]


def test_every_name_a_state_holds_is_known_to_the_guard(project, tmp_path):
    """The guard above takes a directory for a state by the names in it: each name that the
    commands leave in a state directory must be one it knows (a new file simpulse writes there
    alone would make the directory "someone else's")."""
    from simpulse.store.safe_open import STATE_NAMES, STATE_PREFIXES
    project.simpulse("build", check=0)
    project.simpulse("verify", "Fixtures/Basic.lean", "-s", "no-async")
    for args in (["report"], ["stats", "--zero"], ["export", str(tmp_path / "x.json")]):
        project.simpulse(*args, check=0)
    names = sorted(p.name for p in project.state.iterdir())
    assert "state.json" in names and "verify.json" in names, names
    unknown = [n for n in names if n not in STATE_NAMES and not n.startswith(STATE_PREFIXES)]
    assert unknown == []
