"""The ``gnn_keras`` plugin (entry point): GarNet families, their hls4ml fixes, the tracking commands."""

from __future__ import annotations

from deepsets_trigger import registry
from deepsets_trigger.convert.fixes import register_fix
from gnn_keras import conversion, family
from gnn_keras.tracking import cli as tracking_cli


def register() -> None:

    for fam in family.FAMILIES:
        registry.register_family(fam)
    for fix in conversion.FIXES:
        register_fix(fix)
    registry.register_command(
        registry.Command("data tracks", lambda sub, data_sub: tracking_cli.add_data_parser(data_sub))
    )
    registry.register_command(registry.Command("graphs", lambda sub, data_sub: tracking_cli.add_graphs_parser(sub)))
