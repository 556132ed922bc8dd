"""Control-flow graphs of loaded programs, the kernel's structural checks, and drawings.

``build_cfg(prog) -> Cfg`` (a ``networkx.MultiDiGraph`` of basic blocks, see
``model.cfg.graph``), ``check_structure(prog)`` (raises ``CfgError`` as the kernel's
``check_subprogs``/``check_cfg`` would), ``to_dot``/``render`` (Graphviz).
"""

from model.cfg.checks import check_structure
from model.cfg.graph import Block, Cfg, build_cfg, insn_edges
from model.cfg.render import render, to_dot

__all__ = ["Block", "Cfg", "build_cfg", "insn_edges", "check_structure", "to_dot", "render"]
