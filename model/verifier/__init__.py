"""The kernel-style abstract verifier: per-instruction assertions, abstract state, checker."""
