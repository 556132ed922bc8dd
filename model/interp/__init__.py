"""The concrete BPF interpreter: memory regions, maps, helpers, contexts, and the machine."""

from model.interp.machine import Fault, Machine, RunResult, SiteVisit

__all__ = ["Fault", "Machine", "RunResult", "SiteVisit"]
