"""Charged-particle helices in a solenoid field along +z, crossing cylinders (vectorised).

A particle of charge q and transverse momentum pT [GeV] in a field B [T] moves on a circle of
radius R = pT / (0.299792458 · |q| · B) [m] in the transverse plane, clockwise seen from +z for
q > 0, while z advances by (pz / pT) per unit of transverse arc length. Ideal helices: no
multiple scattering, no energy loss, no material interactions.
"""

from __future__ import annotations

import numpy as np

C_LIGHT = 0.299792458  # GeV / (T · m) per unit charge


def curvature_radius(pt: np.ndarray, field_t: float, charge: np.ndarray | float = 1.0) -> np.ndarray:
    """Radius [mm] of the transverse circle of momentum ``pt`` [GeV] in ``field_t`` [T]."""
    return 1000.0 * np.asarray(pt, dtype=np.float64) / (C_LIGHT * field_t * np.abs(charge))


def pt_from_radius(radius_mm: np.ndarray, field_t: float, charge: np.ndarray | float = 1.0) -> np.ndarray:
    """Transverse momentum [GeV] of a circle of radius ``radius_mm``: the inverse of :func:`curvature_radius`."""
    return np.asarray(radius_mm, dtype=np.float64) * C_LIGHT * field_t * np.abs(charge) / 1000.0


def cylinder_crossings(
    origin: np.ndarray, momentum: np.ndarray, charge: np.ndarray, radii: np.ndarray, field_t: float
) -> dict[str, np.ndarray]:
    """First outward crossing of every helix with every cylinder.

    Args:
        origin: (n, 3) production points [mm].
        momentum: (n, 3) momenta [GeV].
        charge: (n,) charges in units of e (non-zero).
        radii: (m,) cylinder radii [mm].
        field_t: solenoid field [T].

    Returns:
        ``x, y, z, px, py, pz, turn`` as (n, m) arrays; ``hit`` (n, m) bool is True where the
        helix starts inside the cylinder and reaches it (``turn`` is the turning angle ψ [rad]).
    """
    origin = np.asarray(origin, dtype=np.float64)
    momentum = np.asarray(momentum, dtype=np.float64)
    charge = np.asarray(charge, dtype=np.float64)
    radii = np.asarray(radii, dtype=np.float64)[None, :]
    px, py, pz = (momentum[:, i : i + 1] for i in range(3))
    x0, y0, z0 = (origin[:, i : i + 1] for i in range(3))
    pt = np.hypot(px, py)
    h = np.sign(charge)[:, None]
    big_r = curvature_radius(pt, field_t, charge[:, None])
    phi0 = np.arctan2(py, px)
    xc = x0 + h * big_r * np.sin(phi0)
    yc = y0 - h * big_r * np.cos(phi0)
    d = np.hypot(xc, yc)
    gamma = np.arctan2(yc, xc)
    a0 = np.arctan2(y0 - yc, x0 - xc)
    with np.errstate(invalid="ignore", divide="ignore"):
        kappa = (radii**2 - d**2 - big_r**2) / (2 * big_r * d)
    reach = np.abs(kappa) <= 1.0
    delta = np.arccos(np.clip(kappa, -1.0, 1.0))
    # the particle turns by ψ ≥ 0 with position angle a = a0 − hψ around the centre
    two_pi = 2 * np.pi
    psi = np.minimum(
        np.mod(h * (a0 - (gamma + delta)), two_pi),
        np.mod(h * (a0 - (gamma - delta)), two_pi),
    )
    a = a0 - h * psi
    x = xc + big_r * np.cos(a)
    y = yc + big_r * np.sin(a)
    z = z0 + big_r * psi * pz / pt
    hit = reach & (np.hypot(x0, y0) < radii)
    tpx = pt * h * np.sin(a)
    tpy = -pt * h * np.cos(a)
    return {
        "x": x,
        "y": y,
        "z": z,
        "px": tpx,
        "py": tpy,
        "pz": np.broadcast_to(pz, x.shape),
        "turn": psi,
        "hit": hit,
    }


def circle_through(p1: np.ndarray, p2: np.ndarray, p3: np.ndarray) -> np.ndarray:
    """Radius of the circle through three transverse points (each (n, 2)); inf when collinear."""
    a = np.linalg.norm(p2 - p1, axis=-1)
    b = np.linalg.norm(p3 - p2, axis=-1)
    c = np.linalg.norm(p3 - p1, axis=-1)
    cross = (p2[..., 0] - p1[..., 0]) * (p3[..., 1] - p1[..., 1]) - (p2[..., 1] - p1[..., 1]) * (
        p3[..., 0] - p1[..., 0]
    )
    with np.errstate(divide="ignore"):
        return a * b * c / (2 * np.abs(cross))
