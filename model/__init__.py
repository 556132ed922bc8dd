"""skv: a formal model and verifier for BPF static keys."""

from model import fast as _fast

_fast.use()  # the compiled verifier core, only if built from exactly these sources
