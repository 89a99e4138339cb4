"""Synthesis reports → the toolkit's resource fields (``resource_source: vivado``).

Vivado HLS / Vitis HLS C synthesis (``*_csynth.xml`` preferred, else ``*_csynth.rpt``) gives
``lut, ff, dsp, bram, latency_cycles, ii``; a Vivado synthesis report (``vivado_synth.rpt``)
gives the post-synthesis ``implementation`` numbers. hls4ml's own ``parse_vivado_report``
needs a complete project directory; these read the files alone, so a directory of reports
copied from a build machine works too. A file that is truncated or from an unknown tool is
refused with the reason — never a wrong number.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from deepsets_trigger.errors import ToolkitError

FIELDS = ("lut", "ff", "dsp", "bram", "latency_cycles", "ii")


def _int(text: str | None, what: str, path: Path) -> int:
    try:
        return int(str(text).strip())
    except (TypeError, ValueError):
        raise ToolkitError(f"{path}: cannot read {what} ({text!r}); the report looks truncated.") from None


def parse_csynth_xml(path: Path) -> dict[str, Any]:
    """C-synthesis totals from ``*_csynth.xml``."""
    try:
        root = ET.parse(path).getroot()
    except ET.ParseError as exc:
        raise ToolkitError(f"{path}: not a complete XML report ({exc}); the file looks truncated.") from None
    if root.tag != "profile" or root.find("PerformanceEstimates") is None:
        raise ToolkitError(f"{path}: not a Vivado/Vitis HLS csynth report (no PerformanceEstimates).")
    latency = root.find("PerformanceEstimates/SummaryOfOverallLatency")
    resources = root.find("AreaEstimates/Resources")
    if latency is None or resources is None:
        raise ToolkitError(f"{path}: the report lacks its latency or area summary; it looks truncated.")
    dsp = resources.find("DSP48E")
    dsp = dsp if dsp is not None else resources.find("DSP")
    return {
        "lut": _int(resources.findtext("LUT"), "LUT", path),
        "ff": _int(resources.findtext("FF"), "FF", path),
        "dsp": _int(dsp.text if dsp is not None else None, "DSP", path),
        "bram": _int(resources.findtext("BRAM_18K"), "BRAM_18K", path),
        "latency_cycles": _int(latency.findtext("Worst-caseLatency"), "latency", path),
        "ii": _int(latency.findtext("Interval-max"), "interval", path),
    }


def _table_row(lines: list[str], start: int, first_cell: str) -> tuple[list[str], list[str]]:
    """(header cells, cells of the row whose first cell is ``first_cell``) of the table after ``start``."""
    header: list[str] = []
    for line in lines[start:]:
        if not line.strip().startswith("|"):
            if header and line.strip() and not line.strip().startswith("+"):
                break
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not header:
            header = cells
        elif cells[0] == first_cell:
            return header, cells
    raise ValueError(first_cell)


def parse_csynth_rpt(path: Path) -> dict[str, Any]:
    """C-synthesis totals from the text ``*_csynth.rpt``."""
    text = path.read_text(errors="replace")
    if "HLS Report for" not in text:
        raise ToolkitError(f"{path}: not a Vivado/Vitis HLS synthesis report (no 'HLS Report for' header).")
    lines = text.splitlines()
    try:
        util = next(i for i, line in enumerate(lines) if line.startswith("== Utilization Estimates"))
        header, total = _table_row(lines, util, "Total")
        lat = next(i for i, line in enumerate(lines) if "Latency (cycles)" in line)
        row = next(line for line in lines[lat:] if re.match(r"^\s*\|\s*\d+\|", line))
    except (StopIteration, ValueError):
        raise ToolkitError(
            f"{path}: the report lacks its latency or utilisation summary; it looks truncated."
        ) from None
    values = dict(zip(header, total, strict=False))
    dsp_key = "DSP48E" if "DSP48E" in values else "DSP"
    numbers = [c.strip() for c in row.strip().strip("|").split("|")]
    return {
        "lut": _int(values.get("LUT"), "LUT", path),
        "ff": _int(values.get("FF"), "FF", path),
        "dsp": _int(values.get(dsp_key), "DSP", path),
        "bram": _int(values.get("BRAM_18K"), "BRAM_18K", path),
        "latency_cycles": _int(numbers[1], "latency", path),
        "ii": _int(numbers[5], "interval", path),
    }


def parse_vivado_synth(path: Path) -> dict[str, int]:
    """Post-synthesis utilisation from ``vivado_synth.rpt`` (7-series and UltraScale names)."""
    text = path.read_text(errors="replace")
    if "Utilization Design Information" not in text and "Slice Logic" not in text and "CLB Logic" not in text:
        raise ToolkitError(f"{path}: not a Vivado utilisation report.")

    def first(*names: str) -> int:
        for name in names:
            match = re.search(rf"^\|\s*{re.escape(name)}\*?\s*\|\s*(\d+)\s*\|", text, re.MULTILINE)
            if match:
                return int(match.group(1))
        raise ToolkitError(f"{path}: no '{names[0]}' row; the report looks truncated.")

    return {
        "lut": first("Slice LUTs", "CLB LUTs"),
        "ff": first("Slice Registers", "CLB Registers"),
        "dsp": first("DSPs"),
        "bram": first("Block RAM Tile"),
    }


def ingest_reports(directory: str | Path) -> dict[str, Any]:
    """Resource record of a directory holding synthesis reports (searched recursively)."""
    directory = Path(directory)
    xmls = sorted(directory.rglob("*_csynth.xml"))
    rpts = sorted(directory.rglob("*_csynth.rpt"))
    synth = sorted(directory.rglob("vivado_synth.rpt"))
    if not (xmls or rpts):
        raise ToolkitError(
            f"{directory}: no C-synthesis report (*_csynth.xml or *_csynth.rpt); pass a run directory for an "
            "analytic estimate, or a directory with Vivado/Vitis HLS reports."
        )
    record: dict[str, Any] = parse_csynth_xml(xmls[0]) if xmls else parse_csynth_rpt(rpts[0])
    record.update(resource_source="vivado", bops=None, layers=[], report=str((xmls or rpts)[0]))
    if synth:
        record["implementation"] = parse_vivado_synth(synth[0])
    return record
