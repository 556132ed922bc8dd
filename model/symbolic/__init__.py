"""Symbolic (Z3) verification of programs with static keys under the key models M0/M1/M2:
``analyse_program(obj, prog)`` (see ``model.symbolic.check``)."""

from model.symbolic.check import Budget, analyse_program, cross_check, summary

__all__ = ["Budget", "analyse_program", "cross_check", "summary"]
