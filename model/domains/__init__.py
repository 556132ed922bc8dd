"""Abstract domains of the kernel verifier (Linux 6.18), written once over the semantics
back ends (``model.semantics.backend``): the verifier runs them over ``INT``, the proofs in
``proofs.domain_soundness`` over ``Z3Backend`` -- the same code.

- ``tnum``: tristate numbers (``Tnum`` and the kernel's tnum operations);
- ``scalar``: ``Scalar`` (var_off + 64/32-bit signed/unsigned bounds), gamma
  (``contains``), ``bounds_sync`` (reg_bounds_sync), load coercions;
- ``scalar_alu``: ALU transfer functions (``alu``, ``scalar_alu``);
- ``scalar_branch``: ``branch_taken`` and edge ``refine``.
"""

from model.domains import tnum
from model.domains.scalar import (Scalar, bounds_sync, coerce_reg_to_size, coerce_reg_to_size_sx,
                                  coerce_subreg_to_size_sx, coerce_to_sign_size, coerce_to_size,
                                  contains, range_bounds_violation, well_formed)
from model.domains.scalar_alu import alu, endian, scalar_alu
from model.domains.scalar_branch import (CONDS, REV, branch_taken, refine, scalar_branch_taken,
                                         scalar_refine)
from model.domains.tnum import Tnum

__all__ = ["tnum", "Tnum", "Scalar", "bounds_sync", "contains", "well_formed",
           "range_bounds_violation", "coerce_to_size", "coerce_to_sign_size",
           "coerce_reg_to_size", "coerce_reg_to_size_sx", "coerce_subreg_to_size_sx",
           "alu", "scalar_alu", "endian", "CONDS", "REV", "branch_taken", "scalar_branch_taken",
           "refine", "scalar_refine"]
