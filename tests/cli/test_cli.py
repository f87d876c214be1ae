"""The command line: real runs, one-line errors, non-zero exits, no partial files."""
import json
import os
import subprocess
import sys

import mdtraj
import pytest

from sciwm.cli.main import main

BROKEN_PDB = "ATOM      1  N   ALA A   1      11.104   6.134  -6.504  1.00  0.00           N\nATOM      2  CA  ALA A   1      garbage\n"


def sciwm(*args):
    return subprocess.run([sys.executable, "-m", "sciwm.cli.main", *args], capture_output=True, text=True)


def test_simulate_then_info_json(tmp_path):
    out = tmp_path / "run.h5"
    r = sciwm("simulate", "--system", "ala2", "--protocol", "T=300K,t=2ps; T=350K,t=1ps",
              "--save-every", "0.5ps", "--seed", "0", "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert mdtraj.load(str(out)).n_frames == 6
    r = sciwm("info", str(out), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["n_frames"] == 6 and info["n_atoms"] == 22 and info["engine"] == "openmm"
    assert info["wall_seconds"] > 0 and info["protocol"] == "T=300K,t=2ps; T=350K,t=1ps"


def test_simulate_cu_with_ase(tmp_path, capsys):
    out = tmp_path / "cu.h5"
    assert main(["simulate", "--system", "cu", "--n-atoms", "32", "--protocol", "T=300K,P=1bar,t=0.2ps",
                 "--save-every", "0.05ps", "--out", str(out), "--quiet"]) == 0
    assert mdtraj.load(str(out)).unitcell_lengths.shape == (4, 3)


def test_user_pdb_with_forcefield(tmp_path):
    from sciwm.systems import get_system
    s = get_system("ala2")
    pdb = tmp_path / "ala2.pdb"
    mdtraj.Trajectory(s.positions[None], s.topology).save_pdb(str(pdb))
    out = tmp_path / "user.h5"
    assert main(["simulate", "--system", str(pdb), "--forcefield", "amber14-all.xml", "--protocol", "T=300K,t=0.5ps",
                 "--save-every", "0.1ps", "--out", str(out), "--quiet"]) == 0
    assert mdtraj.load(str(out)).n_atoms == 22


@pytest.mark.parametrize("args,message", [
    (["--system", "argon-gas"], "unknown system"),
    (["--protocol", "T=0K,t=1ps"], "temperature must be positive"),
    (["--protocol", "T=-10K,t=1ps"], "temperature must be positive"),
    (["--protocol", "T=300K,P=1bar,t=1ps"], "not periodic"),
    (["--protocol", "T=300K;t=1ps"], "needs"),
    (["--protocol", "T=300K,t=1ps,Q=2"], "cannot read protocol item"),
    (["--system", "BROKEN.pdb", "--forcefield", "amber14-all.xml"], "malformed PDB"),
    (["--system", "MISSING.pdb", "--forcefield", "amber14-all.xml"], "no such structure file"),
    (["--system", "GOOD.pdb", "--forcefield", "no-such-ff.xml"], "unknown force field"),
    (["--out", "/nonexistent-dir/run.h5"], "does not exist"),
    (["--save-every", "1 parsec"], "cannot read time"),
    (["--platform", "Quantum"], "unknown OpenMM platform"),
    (["--engine", "ase"], "runs on the openmm engine"),
])
def test_bad_input_one_line_error_no_file(tmp_path, monkeypatch, capsys, args, message):
    """In this process (argparse's errors exit through SystemExit); the tests below run real
    processes for the exit status."""
    (tmp_path / "BROKEN.pdb").write_text(BROKEN_PDB)
    from sciwm.systems import get_system
    s = get_system("ala2")
    mdtraj.Trajectory(s.positions[None], s.topology).save_pdb(str(tmp_path / "GOOD.pdb"))
    base = {"--system": "ala2", "--protocol": "T=300K,t=1ps", "--save-every": "0.5ps", "--out": "out.h5"}
    i = 0
    extra = []
    while i < len(args):
        if args[i] in base and i + 1 < len(args):
            base[args[i]] = args[i + 1]
            i += 2
            continue
        extra.append(args[i])
        i += 1
    argv = [x for kv in base.items() for x in kv] + extra
    monkeypatch.chdir(tmp_path)
    before = set(os.listdir(tmp_path))
    capsys.readouterr()
    try:
        code = main(["simulate", *argv])
    except SystemExit as exc:
        code = exc.code
    err = capsys.readouterr().err
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], err
    assert set(os.listdir(tmp_path)) == before  # nothing written


def test_unwritable_output(tmp_path):
    if os.geteuid() == 0:
        target = "/proc/run.h5"  # root can write anywhere else
    else:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        target = str(locked / "run.h5")
    r = sciwm("simulate", "--system", "ala2", "--protocol", "T=300K,t=1ps", "--save-every", "0.5ps", "--out", target)
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1 and "cannot write" in r.stderr


def test_info_on_corrupt_file(tmp_path):
    bad = tmp_path / "bad.h5"
    bad.write_bytes(b"\x89HDF\r\n garbage")
    r = sciwm("info", str(bad), "--json")
    assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("args,message", [
    (["demo", "--out", "{file}"], "not a folder"),
    (["predict-cost", "--model", "{missing}", "--system", "ala2", "--protocol", "T=300K,t=1ps", "--json"], "cost"),
    (["train", "--data", "{missing}", "--out", "{tmp}/m", "--ensemble", "0"], "ensemble"),
    (["emulate", "--model", "{missing}", "--start", "{file}", "--protocol", "T=300K,t=2ps", "--out", "{tmp}/e.h5"], ""),
])
def test_world_model_commands_reject_bad_input(tmp_path, args, message):
    afile = tmp_path / "a.txt"
    afile.write_text("x")
    fill = {"file": str(afile), "missing": str(tmp_path / "missing"), "tmp": str(tmp_path)}
    before = set(os.listdir(tmp_path))
    r = sciwm(*[a.format(**fill) for a in args])
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert message in r.stderr
    assert set(os.listdir(tmp_path)) == before
