"""The ``gnn_keras`` plugin (entry point): GarNet and interaction-network families, their hls4ml fixes,
the tracking-graph data sources and commands."""

from __future__ import annotations

from deepsets_trigger import registry
from deepsets_trigger.convert.fixes import register_fix
from gnn_keras import conversion, family
from gnn_keras.interaction import conversion as interaction_conversion
from gnn_keras.interaction import family as interaction_family
from gnn_keras.tracking import cli as tracking_cli
from gnn_keras.tracking import sources as tracking_sources


def register() -> None:

    for fam in [*family.FAMILIES, interaction_family.FAMILY]:
        registry.register_family(fam)
    for fix in [*conversion.FIXES, *interaction_conversion.FIXES]:
        register_fix(fix)
    for source in tracking_sources.SOURCES:
        registry.register_source(source)
    registry.register_command(
        registry.Command("data tracks", lambda sub, data_sub: tracking_cli.add_data_parser(data_sub))
    )
    registry.register_command(registry.Command("graphs", lambda sub, data_sub: tracking_cli.add_graphs_parser(sub)))
