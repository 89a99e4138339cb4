"""Jet and constituent features in the layout of the public hls4ml LHC jet dataset.

Per constituent, the 16 standard features in the public order (Zenodo 3602260):
``px, py, pz, E, E_rel, pT, pT_rel, η, η_rel, η_rot, φ, φ_rel, φ_rot, ΔR, cos θ, cos θ_rel``
with ``E_rel = E/E_jet``, ``pT_rel = pT/pT_jet``, ``η_rel = η − η_jet``, ``φ_rel = φ − φ_jet``
(wrapped to (−π, π]), ``ΔR = √(η_rel² + φ_rel²)``, ``cos θ = p_z/|p|``, ``cos θ_rel`` the cosine
of the angle to the jet axis, and (η_rot, φ_rot) = (η_rel, φ_rel) rotated so that the jet's
pT-weighted principal axis lies along η (the public files' "rotated" coordinates).
"""

from __future__ import annotations

import numpy as np

PARTICLE_FEATURES = (
    "j1_px",
    "j1_py",
    "j1_pz",
    "j1_e",
    "j1_erel",
    "j1_pt",
    "j1_ptrel",
    "j1_eta",
    "j1_etarel",
    "j1_etarot",
    "j1_phi",
    "j1_phirel",
    "j1_phirot",
    "j1_deltaR",
    "j1_costheta",
    "j1_costhetarel",
)
JET_CLASSES = ("g", "q", "W", "Z", "t")
LABEL_COLUMNS = ("j_g", "j_q", "j_w", "j_z", "j_t", "j_undef")
JET_FEATURES = ("j_pt", "j_eta", "j_phi", "j_mass", "j_energy", "j_multiplicity", *LABEL_COLUMNS)


def kinematics(p4: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pT, η, φ) of four-vectors ``(..., 4)`` = (px, py, pz, E)."""
    px, py, pz = p4[..., 0], p4[..., 1], p4[..., 2]
    pt = np.hypot(px, py)
    p = np.sqrt(pt**2 + pz**2)
    eta = np.arctanh(np.clip(pz / np.where(p > 0, p, 1.0), -1 + 1e-12, 1 - 1e-12))
    return pt, eta, np.arctan2(py, px)


def wrap_phi(dphi: np.ndarray) -> np.ndarray:
    """Angles wrapped to (−π, π]."""
    return np.pi - np.mod(np.pi - dphi, 2 * np.pi)


def jet_mass(p4: np.ndarray) -> float:
    """Invariant mass of the summed four-vectors (plain, ungroomed)."""
    total = p4.sum(axis=0)
    return float(np.sqrt(max(total[3] ** 2 - total[0] ** 2 - total[1] ** 2 - total[2] ** 2, 0.0)))


def constituent_features_batch(jets: list[np.ndarray], c_max: int) -> np.ndarray:
    """(B, c_max, 16) features of B jets at once (vectorised: the per-jet cost is tiny)."""
    n_max = max(len(j) for j in jets)
    p4 = np.zeros((len(jets), n_max, 4))
    for b, j in enumerate(jets):
        p4[b, : len(j)] = j
    real = p4[..., 3] > 0
    jet = p4.sum(axis=1)  # (B, 4)
    jet_pt, jet_eta, jet_phi = kinematics(jet)
    pt, eta, phi = kinematics(p4)
    pt = np.where(real, pt, -1.0)  # padding sorts last
    order = np.argsort(-pt, axis=1, kind="stable")[:, :c_max]
    take = np.take_along_axis
    p4 = take(p4, order[..., None], axis=1)
    pt, eta, phi, real = (take(a, order, axis=1) for a in (pt, eta, phi, real))
    eta_rel = eta - jet_eta[:, None]
    phi_rel = wrap_phi(phi - jet_phi[:, None])
    # principal axis of the pT²-weighted (η_rel, φ_rel) cloud; angle of the 2×2 covariance in closed form
    w = np.where(real, pt, 0.0) ** 2
    wsum = np.maximum(w.sum(axis=1, keepdims=True), 1e-12)
    mean_e, mean_p = (w * eta_rel).sum(1, keepdims=True) / wsum, (w * phi_rel).sum(1, keepdims=True) / wsum
    de, dp = eta_rel - mean_e, phi_rel - mean_p
    cxx, cyy, cxy = (w * de * de).sum(1), (w * dp * dp).sum(1), (w * de * dp).sum(1)
    angle = -0.5 * np.arctan2(2 * cxy, cxx - cyy)[:, None]
    eta_rot = np.cos(angle) * eta_rel - np.sin(angle) * phi_rel
    phi_rot = np.sin(angle) * eta_rel + np.cos(angle) * phi_rel
    p = np.linalg.norm(p4[..., :3], axis=-1)
    safe_p = np.where(p > 0, p, 1.0)
    jet_p = np.linalg.norm(jet[:, :3], axis=-1)
    cos_theta = p4[..., 2] / safe_p
    cos_theta_rel = np.einsum("bnk,bk->bn", p4[..., :3], jet[:, :3]) / (safe_p * jet_p[:, None])
    features = np.stack(
        [
            p4[..., 0],
            p4[..., 1],
            p4[..., 2],
            p4[..., 3],
            p4[..., 3] / jet[:, 3:4],
            pt,
            pt / jet_pt[:, None],
            eta,
            eta_rel,
            eta_rot,
            phi,
            phi_rel,
            phi_rot,
            np.hypot(eta_rel, phi_rel),
            cos_theta,
            cos_theta_rel,
        ],
        axis=-1,
    )
    out = np.zeros((len(jets), c_max, len(PARTICLE_FEATURES)), dtype=np.float32)
    n = min(c_max, n_max)
    out[:, :n] = np.where(real[..., None], features, 0.0)[:, :n]
    return out


def jet_record(p4: np.ndarray, label: int) -> np.ndarray:
    """The ``jets`` row: kinematics, plain mass, multiplicity and the one-hot label + j_undef."""
    jet = p4.sum(axis=0)
    pt, eta, phi = kinematics(jet)
    onehot = np.zeros(len(LABEL_COLUMNS), dtype=np.float32)
    onehot[label] = 1.0
    return np.concatenate([[pt, eta, phi, jet_mass(p4), jet[3], len(p4)], onehot]).astype(np.float32)
