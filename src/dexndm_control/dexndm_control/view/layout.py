"""The Foxglove layout for ``dexndm view`` (config/foxglove_layout.json), built with the SDK's
layout types so that its topics and message paths are the view's own: a 3D panel on the scene,
the gap meter's state as an indicator, its per-joint ratio (rolling error / warn threshold) and
the joint readings against the targets as plots. Import it in the Foxglove app (Layouts ->
Import from file)."""

from __future__ import annotations

import json

from dexndm_control.hand import JOINT_NAMES
from dexndm_control.view.scene import WORLD
from dexndm_control.view.server import GAP_TOPIC, JOINTS_TOPIC, SCENE_TOPIC

FINGERS = {"index": "if_", "middle": "mf_", "ring": "rf_", "thumb": "th_"}


def build_layout():
    import foxglove.layouts as fl

    three_d = fl.ThreeDeePanel(title="hand (grey), targets (blue ghost), object", config=fl.
                               ThreeDeeConfig(follow_tf=WORLD, topics={
                                   SCENE_TOPIC: fl.BaseRendererSceneUpdateTopicSettings(
                                       visible=True)}))
    level = fl.IndicatorPanel(title="gap meter", config=fl.IndicatorConfig(
        path=f"{GAP_TOPIC}.level", style="background", fallback_label="no gap meter",
        rules=[fl.IndicatorRule(raw_value="2", operator=">=", color="#e5534b", label="ERROR"),
               fl.IndicatorRule(raw_value="1", operator=">=", color="#f2b705", label="WARN"),
               fl.IndicatorRule(raw_value="0", operator=">=", color="#3fb950", label="OK")]))
    ratio = fl.PlotPanel(title="gap meter: rolling error / warn threshold (1 = WARN)",
                         config=fl.PlotConfig(paths=[
                             fl.PlotSeries(value=f"{GAP_TOPIC}.ratio.{name}", label=name,
                                           timestamp_method="receiveTime")
                             for name in JOINT_NAMES], show_legend=True))
    tabs = [fl.TabItem(title=finger, content=fl.PlotPanel(
        title=f"{finger}: reading (solid) and target (dashed), rad", config=fl.PlotConfig(
            paths=[series for name in JOINT_NAMES if name.startswith(prefix)
                   for series in (
                       fl.PlotSeries(value=f"{JOINTS_TOPIC}.position.{name}", label=name),
                       fl.PlotSeries(value=f"{JOINTS_TOPIC}.target.{name}",
                                     label=f"{name} target", line_style="dashed"))],
            show_legend=True)))
        for finger, prefix in FINGERS.items()]
    right = fl.SplitContainer(direction="column", items=[
        fl.SplitItem(proportion=0.15, content=level),
        fl.SplitItem(proportion=0.45, content=ratio),
        fl.SplitItem(proportion=0.4, content=fl.TabContainer(tabs=tabs))])
    return fl.Layout(content=fl.SplitContainer(direction="row", items=[
        fl.SplitItem(proportion=0.55, content=three_d), fl.SplitItem(proportion=0.45,
                                                                     content=right)]))


def layout_json() -> str:
    """The layout file's text (indented, newline-terminated, stable for a diff)."""
    return json.dumps(json.loads(build_layout().to_json()), indent=2, sort_keys=True) + "\n"
