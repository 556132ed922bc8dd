"""Reports of ``skv check`` (issue 7): counterexamples confirmed on x86 and drawn.

``x86``: ``confirm_any`` (M0/M1/M2 counterexamples on the JIT'd x86 code) and the saved
end-to-end counterexample format ``skv-e2e/1`` (``skv e2e --save`` / ``--replay``);
``pictures``: the CFG with the counterexample's path and observed site states (Graphviz),
the CPU 1 / CPU 0 timeline (SVG); ``html``: ``skv check --report DIR``.
"""
