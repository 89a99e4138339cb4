"""``diagnosis.md``: the verdict, the ranked table, and the advisor's verified result."""

from __future__ import annotations

from typing import Any


def _num(value: Any) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def markdown(record: dict[str, Any]) -> str:
    lines = ["# Firmware-vs-Keras diagnosis", ""]
    if record["culprit_layer"]:
        lines += [f"**Cause: `{record['culprit_layer']}` — {record['cause']}.** {record['explanation']}.", ""]
    else:
        lines += [f"**Nothing wrong found** on {record['n_samples']} samples: {record['explanation']}.", ""]
    ranked = sorted(
        record["layers"],
        key=lambda r: (r["cause"] is None, r["keras_layer"] != record["culprit_layer"], -(r["max_abs_diff"] or 0)),
    )
    lines += [
        "| hls4ml layer | Keras layer | firmware type | Keras range | max abs diff | rel. error | wrapped | saturated "
        "| below LSB | cause |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in ranked:
        keras_range = f"[{_num(r['keras_min'])}, {_num(r['keras_max'])}]"
        lines.append(
            f"| {r['hls_layer']} | {r['keras_layer'] or '-'} | `{r['firmware_type']}` | {keras_range} | "
            f"{_num(r['max_abs_diff'])} | {_num(r['relative_error'])} | {r['wrapped_fraction']:.2%} | "
            f"{r['saturated_fraction']:.2%} | {r['truncated_fraction']:.0%} | {r['cause'] or ''} |"
        )
    lines += [
        "",
        f"Emulator: **{record.get('emulator', 'cpp')}** — {record.get('emulator_note', '')}.",
        "",
        "![ranges](diagnosis_ranges.png)",
        "",
        "![errors](diagnosis_errors.png)",
        "",
    ]
    lines += _attribution(record.get("attribution"))
    advice = record.get("advice")
    if advice:
        lines += ["## Precision advisor (verified by re-emulation)", ""]
        if advice.get("mode") == "types":
            lines += [
                f"Goal: {advice['goal']}; searched with the {advice['emulator']} "
                f"({advice['candidates_evaluated']} candidates), the advised config compiled and emulated in C++.",
                "",
            ]
        for key in ("before", "advised", "uniform") if advice.get("mode") != "types" else ("before", "advised"):
            a = advice[key]
            lines.append(
                f"- {key}: {a['label']}: accuracy ratio {_num(a.get('accuracy_ratio'))}, logit agreement "
                f"{_num(a.get('agreement'))}, total bits {_num(a.get('total_bits'))}, BOPs {_num(a.get('bops'))}, "
                f"LUT {_num(a.get('lut'))}, DSP {_num(a.get('dsp'))}"
            )
        lines += ["", f"Advised hls4ml config: `{advice['config']}`", ""]
    return "\n".join(lines)


def _attribution(attribution: dict[str, Any] | None) -> list[str]:
    """The counterfactual table: each layer made exact alone, and the culprit set."""
    if not attribution or not attribution["layers"]:
        return []
    base, every = attribution["baseline"], attribution["all_exact"]
    lines = [
        f"## Counterfactuals (re-emulated with the {attribution['emulator']})",
        "",
        "| made exact | logit agreement | max abs Δlogit | mean abs Δlogit |",
        "|---|---|---|---|",
        f"| nothing (as configured) | {base['agreement']:.4f} | {_num(base['max_abs_logit_diff'])} | "
        f"{_num(base['mean_abs_logit_diff'])} |",
    ]
    for row in attribution["layers"]:
        lines.append(
            f"| {row['layer']} | {row['agreement']:.4f} | {_num(row['max_abs_logit_diff'])} | "
            f"{_num(row['mean_abs_logit_diff'])} |"
        )
    lines.append(
        f"| every layer above | {every['agreement']:.4f} | {_num(every['max_abs_logit_diff'])} | "
        f"{_num(every['mean_abs_logit_diff'])} |"
    )
    if attribution["culprits"]:
        rec = attribution["recovered"]
        lines += ["", f"Culprit set: {', '.join(attribution['culprits'])} (agreement {rec['agreement']:.4f})."]
    return [*lines, ""]
