"""The shim's modules in one file (`shim/bundle.py`): served only while their sources are
unchanged, by the interpreter that compiled them; anything wrong and the normal import runs."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simpulse.shim import bundle

PKG = Path(bundle.__file__).resolve().parent.parent
# what a fresh interpreter reports: which finder served each module the shim imports
PROBE = """import sys
sys.path.insert(0, {parent!r})
from simpulse.shim.bundle import install
print(install({path!r}))
import simpulse.shim.main, simpulse.learner, simpulse.store.store, simpulse.lake.leanargs
for m in ("simpulse.learner", "simpulse.store.store", "simpulse.model.fold", "simpulse.lake.leanargs"):
    mod = sys.modules[m]
    print(m, type(mod.__spec__.loader).__name__, mod.__file__)
print(simpulse.learner.MARK if hasattr(simpulse.learner, "MARK") else "no-mark")
"""


@pytest.fixture
def copy(tmp_path) -> Path:
    """A private copy of the package (so a test may edit a source)."""
    dest = tmp_path / "pkg" / "simpulse"
    shutil.copytree(PKG, dest, ignore=shutil.ignore_patterns("__pycache__", "simulated", "commands", "doctor"))
    return dest


def probe(copy: Path, path: Path) -> list[str]:
    code = PROBE.format(parent=str(copy.parent), path=str(path))
    p = subprocess.run([sys.executable, "-IS", "-c", code], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


def test_every_module_the_shim_needs_is_bundled_and_served_from_it(copy, tmp_path):
    path = tmp_path / "hot.marshal"
    assert bundle.write(str(path), str(copy)) is True
    assert bundle.write(str(path), str(copy)) is False            # up to date: not rewritten
    names = set(bundle.read(str(path)))
    assert {"simpulse.learner", "simpulse.store.store", "simpulse.model.similar", "simpulse.policy.rng",
            "simpulse.context.features", "simpulse.lake.leanargs", "simpulse.shim.main"} <= names
    out = probe(copy, path)
    assert out[0] == "True"
    for line in out[1:5]:
        name, loader, file = line.split()
        assert loader == "_Finder" and file.startswith(str(copy)), line
    assert out[5] == "no-mark"


def test_the_normal_import_checks_the_same_way_the_shim_runs(copy, tmp_path):
    """The shim imports the same modules with or without the bundle."""
    path = tmp_path / "hot.marshal"
    bundle.write(str(path), str(copy))
    code = ("import sys\nsys.path.insert(0, {p!r})\nfrom simpulse.shim.bundle import install\n{inst}\n"
            "import simpulse.shim.main, simpulse.learner, simpulse.store.store, simpulse.store.simindex\n"
            "print(sorted(m for m in sys.modules if m.startswith('simpulse')))\n")
    got = []
    for inst in (f"install({str(path)!r})", "pass"):
        p = subprocess.run([sys.executable, "-IS", "-c", code.format(p=str(copy.parent), inst=inst)],
                           capture_output=True, text=True, check=True)
        got.append(p.stdout)
    assert got[0] == got[1]


def test_an_edited_source_is_imported_from_the_source_not_the_bundle(copy, tmp_path):
    path = tmp_path / "hot.marshal"
    bundle.write(str(path), str(copy))
    learner = copy / "learner.py"
    learner.write_text(learner.read_text() + "\nMARK = 'edited'\n")
    out = probe(copy, path)
    assert out[1].split()[1] != "_Finder"                       # learner: the normal import
    assert out[2].split()[1] == "_Finder"                       # the others: still the bundle
    assert out[5] == "edited"
    assert bundle.write(str(path), str(copy)) is True            # the next build refreshes it
    assert probe(copy, path)[1].split()[1] == "_Finder"


@pytest.mark.parametrize("damage", ["missing", "truncated", "junk", "other-python", "not-a-dict", "group-writable"])
def test_a_damaged_or_foreign_bundle_is_ignored(copy, tmp_path, damage):
    path = tmp_path / "hot.marshal"
    bundle.write(str(path), str(copy))
    data = path.read_bytes()
    if damage == "missing":
        path.unlink()
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "junk":
        path.write_bytes(os.urandom(4096))
    elif damage == "other-python":
        d = marshal.loads(data)
        d["python"] = "2.7.18"
        path.write_bytes(marshal.dumps(d))
    elif damage == "group-writable":
        os.chmod(path, 0o620)                    # code it runs: from nobody else's writing
    else:
        path.write_bytes(marshal.dumps([1, 2, 3]))
    out = probe(copy, path)
    assert out[0] == "False"
    assert all(line.split()[1] != "_Finder" for line in out[1:5])


def test_a_build_writes_it_beside_the_shim_and_the_shim_uses_it(project):
    project.simpulse("build", "Fixtures.Basic", check=0)
    hot = project.facade.resolve() / bundle.BUNDLE_NAME
    assert bundle.read(str(hot))
    assert hot.stat().st_mode & 0o077 == 0
    assert f"install({str(hot)!r})" in (project.facade / "simpulse-shim.py").read_text()
