"""Offline physics data: Pythia8 + FastJet jets and the sampling calorimeter, with numbers."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from deepsets_trigger.cli import main
from deepsets_trigger.data.calo import PARTICLES, V_MAX, CaloGenConfig, generate_calo, simulate_event, write_calo_file
from deepsets_trigger.data.h5jets import read_jets
from deepsets_trigger.data.jet_features import JET_CLASSES, PARTICLE_FEATURES
from deepsets_trigger.data.pythia_jets import JetGenConfig, generate_jets, write_jet_file
from deepsets_trigger.errors import ToolkitError

pytest.importorskip("pythia8mc", reason="the gen extra (pythia8mc, fastjet) is not installed")
pytestmark = pytest.mark.slow

PUBLIC_NAMES = (
    "j1_px, j1_py, j1_pz, j1_e, j1_erel, j1_pt, j1_ptrel, j1_eta, j1_etarel, j1_etarot, j1_phi, "
    "j1_phirel, j1_phirot, j1_deltaR, j1_costheta, j1_costhetarel"
).split(", ")


@pytest.fixture(scope="session")
def jet_file(tmp_path_factory):
    cfg = JetGenConfig(n_jets=1000, seed=3, workers=2)
    constituents, jets = generate_jets(cfg)
    path = tmp_path_factory.mktemp("jets") / "jets.h5"
    write_jet_file(path, constituents, jets, cfg)
    return path


def _jets(path):
    with h5py.File(path, "r") as f:
        return f["jetConstituentList"][()], f["jets"][()]


def _mass_peak(masses: np.ndarray) -> float:
    """Mode of a Gaussian kernel density (bandwidth 4 GeV) on a 0.5 GeV grid."""
    grid = np.arange(0, 300, 0.5)
    density = np.exp(-0.5 * ((grid[:, None] - masses[None, :]) / 4.0) ** 2).sum(axis=1)
    return float(grid[np.argmax(density)])


@pytest.mark.parametrize("cls, mass", [("W", 80.4), ("Z", 91.2), ("t", 172.8)])
def test_resonance_mass_peaks(jet_file, cls, mass):
    """Plain (ungroomed) jet mass of anti-kT R = 0.8 jets, no pile-up: peak within ±10 %."""
    _, jets = _jets(jet_file)
    label = jets[:, -6:-1].argmax(1)
    peak = _mass_peak(jets[label == JET_CLASSES.index(cls), 3])
    assert abs(peak - mass) <= 0.10 * mass, peak


def test_gluon_jets_have_more_constituents_and_classes_are_balanced(jet_file):
    _, jets = _jets(jet_file)
    label = jets[:, -6:-1].argmax(1)
    multiplicity = jets[:, 5]
    assert multiplicity[label == 0].mean() > 1.2 * multiplicity[label == 1].mean()
    counts = np.bincount(label, minlength=5)
    assert counts.max() - counts.min() <= 0.02 * counts.mean()
    assert np.all(jets[:, -1] == 0)  # no j_undef


def test_public_layout_through_plain_h5py(jet_file):
    with h5py.File(jet_file, "r") as f:
        assert set(f) >= {"jetConstituentList", "jets", "jetFeatureNames", "particleFeatureNames"}
        assert f["jetConstituentList"].shape == (1000, 150, 16)
        assert f["jetConstituentList"].compression == "gzip"
        assert [n.decode() for n in f["particleFeatureNames"][()]] == PUBLIC_NAMES
        assert isinstance(f["particleFeatureNames"][0], bytes)
        names = [n.decode() for n in f["jetFeatureNames"][()]]
        assert names[-6:] == ["j_g", "j_q", "j_w", "j_z", "j_t", "j_undef"]
        onehot = f["jets"][:, -6:-1]
    assert np.all(onehot.sum(axis=1) == 1)
    assert list(PARTICLE_FEATURES) == PUBLIC_NAMES


def test_loader_and_feature_consistency(jet_file):
    x, y, names = read_jets(jet_file, 8)
    assert x.shape == (1000, 8, 3) and y.shape == (1000, 5) and names == JET_CLASSES
    constituents, jets = _jets(jet_file)
    col = {n: i for i, n in enumerate(PARTICLE_FEATURES)}
    np.testing.assert_array_equal(x[..., 0], constituents[:, :8, col["j1_pt"]])
    contained = jets[:, 5] <= 150
    erel = constituents[contained, :, col["j1_erel"]].sum(axis=1)
    np.testing.assert_allclose(erel, 1.0, atol=1e-4)  # the constituents make up the jet
    pt = constituents[..., col["j1_pt"]]
    assert np.all(np.diff(pt, axis=1) <= 1e-3)  # pT-ordered, zero padding last
    # anti-kT R = 0.8 clusters in (rapidity, φ): every constituent lies within R of the jet axis
    e, pz = constituents[..., col["j1_e"]], constituents[..., col["j1_pz"]]
    real = pt > 0
    rapidity = 0.5 * np.log(np.where(real, (e + pz) / np.maximum(e - pz, 1e-9), 1.0))
    jet_p4 = constituents[..., :4].sum(axis=1)
    jet_y = 0.5 * np.log((jet_p4[:, 3] + jet_p4[:, 2]) / (jet_p4[:, 3] - jet_p4[:, 2]))
    dphi = constituents[..., col["j1_phirel"]]
    distance = np.hypot(rapidity - jet_y[:, None], dphi)[real & contained[:, None]]
    assert np.percentile(distance, 99.9) < 0.85 and np.median(constituents[..., col["j1_deltaR"]][real]) < 0.2
    high, _, _ = read_jets(jet_file, 8, min_pt=1000.0)
    assert 0 < len(high) < 1000


def test_fjcore_in_pythia_matches_the_fastjet_package():
    from deepsets_trigger.data.pythia_jets import (
        make_pythia,
        make_slowjet,
        select_jet,
        select_jet_pythia,
        visible_final,
    )

    pythia, slowjet = make_pythia("t", 11, 900, 1100), make_slowjet()
    compared = 0
    while compared < 25:
        if not pythia.next():
            continue
        fast = select_jet(visible_final(pythia), None)
        core = select_jet_pythia(pythia, slowjet, None)
        assert (fast is None) == (core is None)
        if fast is not None:
            np.testing.assert_allclose(np.sort(fast, axis=0), np.sort(core, axis=0), rtol=1e-9)
            compared += 1


def test_same_seed_same_file_and_worker_counts_agree(tmp_path):
    first = generate_jets(JetGenConfig(100, seed=5, workers=2))
    again = generate_jets(JetGenConfig(100, seed=5, workers=2))
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    one = generate_jets(JetGenConfig(400, seed=6, workers=1))[1]
    two = generate_jets(JetGenConfig(400, seed=6, workers=2))[1]
    for jets_a, jets_b in ((one, two),):
        la, lb = jets_a[:, -6:-1].argmax(1), jets_b[:, -6:-1].argmax(1)
        assert np.array_equal(np.bincount(la), np.bincount(lb))
        for k in range(5):  # mean multiplicity per class within 4 standard errors
            a, b = jets_a[la == k, 5], jets_b[lb == k, 5]
            assert abs(a.mean() - b.mean()) < 4 * np.hypot(a.std() / np.sqrt(len(a)), b.std() / np.sqrt(len(b)))


def test_calorimeter_electron_resolution_and_pion_response():
    rng = np.random.default_rng(1)
    energies = np.array([10.0, 20.0, 50.0, 100.0])
    rel_sigma, response = [], {}
    for energy in energies:
        sums = np.array([simulate_event(rng, "e", energy)[:, 3].sum() for _ in range(300)])
        rel_sigma.append(sums.std() / sums.mean())
        response.setdefault("e", []).append(sums.mean() / energy)
        pion = np.array([simulate_event(rng, "pi+", energy)[:, 3].sum() for _ in range(150)])
        response.setdefault("pi+", []).append(pion.mean() / energy)
    # σ/E = a/√E ⊕ b: linear least squares in (σ/E)² = a²/E + b²
    design = np.stack([1 / energies, np.ones_like(energies)], axis=1)
    (a2, b2), *_ = np.linalg.lstsq(design, np.square(rel_sigma), rcond=None)
    a = np.sqrt(max(a2, 0))
    assert 0.10 <= a <= 0.30, a
    assert np.all(np.array(response["pi+"]) < np.array(response["e"]))
    assert np.all(np.abs(np.array(response["e"]) - 1) < 0.03)


def test_calorimeter_file_layout_padding_and_determinism(tmp_path):
    cfg = CaloGenConfig(200, ("e", "pi+", "pi0", "gamma"), pileup=1.0, seed=4)
    data = generate_calo(cfg)
    assert data["cluster"].shape == (200, V_MAX, 4)
    assert data["size"].max() <= V_MAX and data["size"].min() > 0
    index = np.arange(V_MAX)[None, :]
    assert np.all(data["cluster"][index >= data["size"][:, None]] == 0)
    assert set(np.unique(data["truth_pid"])) == {PARTICLES[p] for p in cfg.particles}
    assert np.all(np.diff(data["cluster"][..., 3], axis=1)[index[:, 1:] < data["size"][:, None]] <= 0)  # sorted
    again = generate_calo(cfg)
    for key in data:
        np.testing.assert_array_equal(data[key], again[key])
    write_calo_file(tmp_path / "c.h5", data, cfg)
    with h5py.File(tmp_path / "c.h5", "r") as f:
        assert {"cluster", "size", "truth_energy", "truth_pid"} <= set(f)


def test_data_commands_and_plots(tmp_path, capsys):
    assert main(["data", "jets", "--n-jets", "50", "--out", str(tmp_path / "j.h5"), "--workers", "1"]) == 0
    assert main(["data", "calo", "--n-events", "60", "--out", str(tmp_path / "c.h5"), "--particles", "e,pi+"]) == 0
    assert main(["data", "plot", str(tmp_path / "j.h5"), "--out", str(tmp_path / "pj")]) == 0
    assert main(["data", "plot", str(tmp_path / "c.h5"), "--out", str(tmp_path / "pc")]) == 0
    for name in ("jet_mass", "multiplicity", "ptrel"):
        assert (tmp_path / "pj" / f"{name}.png").stat().st_size > 5000
    for name in ("shower_depth", "hits_per_cluster", "response"):
        assert (tmp_path / "pc" / f"{name}.png").stat().st_size > 5000


@pytest.mark.parametrize(
    "argv, fragment",
    [
        (["data", "jets", "--n-jets", "0"], "--n-jets must be between 1 and"),
        (["data", "calo", "--n-events", "-3"], "--n-events must be between 1 and"),
        (["data", "calo", "--n-events", "5", "--particles", "e,kaon"], "unknown particle 'kaon'; choose from e, pi+"),
    ],
)
def test_bad_generation_requests(tmp_path, capsys, argv, fragment):
    out = tmp_path / "out.h5"
    assert main([*argv, "--out", str(out)]) == 2
    assert fragment in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_foreign_and_truncated_files(tmp_path, jet_file, capsys):
    with h5py.File(tmp_path / "foreign.h5", "w") as f:
        f["something"] = np.zeros(3)
    with pytest.raises(ToolkitError, match="lacks jetConstituentList"):
        read_jets(tmp_path / "foreign.h5", 8)
    truncated = tmp_path / "truncated.h5"
    truncated.write_bytes(jet_file.read_bytes()[: jet_file.stat().st_size // 3])
    with pytest.raises(ToolkitError, match="truncated"):
        read_jets(truncated, 8)
    assert main(["data", "plot", str(tmp_path / "foreign.h5"), "--out", str(tmp_path / "p")]) == 2
    assert "neither a jet file" in capsys.readouterr().err


def test_unknown_jet_class_is_refused_before_generating():
    with pytest.raises(ToolkitError, match="unknown jet class 'higgs'; the classes are g, q, W, Z, t"):
        generate_jets(JetGenConfig(10, classes=("g", "higgs")))
