"""Every figure writes one readable PNG, atomically (no temporary file left behind)."""
import os

import numpy as np
import pytest

from sciwm.bench import figures

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def synthetic_angles(rng, n, alpha_fraction):
    centres = np.radians([[-70.0, -40.0], [-80.0, 150.0]])
    which = rng.random(n) > alpha_fraction
    return centres[which.astype(int)] + rng.normal(0, 0.3, size=(n, 2))


def make_all(folder, rng):
    """One call of each figure function on synthetic data; returns the paths written."""
    r = np.linspace(0.01, 1.2, 120)
    g_ref = 1 + np.exp(-(r - 0.38) ** 2 / 0.002) * 1.8 - np.exp(-(r / 0.33) ** 12)
    lags = np.array([1.0, 2, 5, 10, 20, 50])
    its = np.array([[900.0, 60, 8]]) * (1 - np.exp(-lags[:, None] / 3))
    spread = rng.gamma(2.0, 0.05, 300)
    measured = 10 ** rng.uniform(0, 3, 40)
    pred = measured * np.exp(rng.normal(0, 0.3, 40))
    queries = np.arange(1, 31)
    return [
        figures.ramachandran_pair(synthetic_angles(rng, 5000, 0.6), synthetic_angles(rng, 3000, 0.4),
                                  folder / "ramachandran.png", suptitle="alanine dipeptide, 300 K"),
        figures.rdf_plot(r, {"reference": g_ref, "world model": g_ref * (1 + 0.03 * np.sin(8 * r))},
                         folder / "rdf.png"),
        figures.timescales_plot(lags, its, its * 0.7, folder / "timescales.png"),
        figures.spread_vs_error(spread, np.abs(rng.normal(0, spread)), folder / "spread.png", unit="nm"),
        figures.predicted_vs_measured(pred, pred / 2, pred * 2, measured, folder / "cost.png"),
        figures.bar_comparison({"JSD phi/psi 2-D": 0.21, "JSD phi 1-D": 0.08, "RDF MAE": 0.03,
                                "|dG alpha-beta| (kJ/mol)": 1.2, "density error (g/cm3)": 0.01},
                               folder / "bars.png",
                               noise_floor={"JSD phi/psi 2-D": 0.12, "JSD phi 1-D": 0.05, "RDF MAE": 0.02,
                                            "|dG alpha-beta| (kJ/mol)": 0.4},
                               errors={"|dG alpha-beta| (kJ/mol)": (0.8, 1.6)}),
        figures.best_so_far({"cost-aware agent": (np.cumsum(rng.uniform(1, 5, 30)), rng.normal(0, 1, 30)),
                             "random search": (queries * 3.0, rng.normal(0.5, 1, 30))},
                            folder / "best.png", optimum=-2.5),
    ]


def test_each_figure_writes_a_png_and_no_temp_files(tmp_path, rng):
    paths = make_all(tmp_path, rng)
    assert sorted(os.listdir(tmp_path)) == sorted(p.name for p in paths)
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE, path.name
        assert len(data) > 8000, path.name


def test_failed_write_leaves_no_temp_file(tmp_path):
    (tmp_path / "rdf.png").mkdir()  # os.replace onto a folder fails after the PNG is rendered
    with pytest.raises(OSError):
        figures.rdf_plot(np.linspace(0, 1, 5), {"reference": np.ones(5)}, tmp_path / "rdf.png")
    assert os.listdir(tmp_path) == ["rdf.png"]
