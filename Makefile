# skv: the two commands the README starts with.
#   make demo   set up, then run skv on the bundled bpfprogs
#   make test   set up, then run the test suite
#   make fast   optional: compile the verifier core with mypyc (build/fast/, see README)
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
SKV   := $(VENV)/bin/skv
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test fast bench bpfprogs clean

setup: $(STAMP) system-deps

# Debian packages: clang-19/llvm-19 build and disassemble bpfprogs/, graphviz draws CFGs,
# libbpf-dev and bpftool build a program the libbpf way (bpf_helpers.h, vmlinux.h) in tests.
system-deps:
	@missing=""; \
	command -v clang-19 >/dev/null || missing="$$missing clang-19"; \
	command -v llvm-objdump-19 >/dev/null || missing="$$missing llvm-19"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
	test -f /usr/include/bpf/bpf_helpers.h || missing="$$missing libbpf-dev"; \
	command -v bpftool >/dev/null || missing="$$missing bpftool"; \
	test -x /usr/bin/chromium || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip >/dev/null
	$(PY) -m pip install -q -e '.[test]'
	@touch $(STAMP)

demo: setup
	@mkdir -p out
	$(SKV) info bpfprogs/talk_unlikely.o bpfprogs/unsafe_m1.o
	$(SKV) disasm bpfprogs/talk_unlikely.o
	@# the main job: verify every bundled program under every key state. Exit 1 means
	@# "some program rejected", expected here: bpfprogs/ holds deliberately unsafe programs.
	$(SKV) check bpfprogs/*.o --cex out/cex.json; test $$? -le 1
	$(SKV) check --json bpfprogs/unsafe_m2.o --cex out/per_exec.json > out/check.json; test $$? -le 1
	@echo "== replaying the M2 counterexample of unsafe_m2.o in the interpreter (a fault is expected)"
	$(SKV) run --replay out/per_exec.json; test $$? -eq 1
	@echo "== the datapath (bpfprogs/datapath/): 10 programs, 13 keys; the verifier on every program,"
	@echo "== then the Z3 engine on the stage with the deliberate bug (a confirmed M0 counterexample)"
	$(SKV) check --no-symbolic bpfprogs/datapath/datapath.o bpfprogs/datapath/unsafe_datapath.o; test $$? -le 1
	$(SKV) check -p dp_xdp_icmp_err bpfprogs/datapath/unsafe_datapath.o; test $$? -eq 1
	$(SKV) cfg bpfprogs/unsafe_m1.o --format svg -o out/unsafe_m1.svg
	$(SKV) prove --quick
	@echo "wrote out/check.json, out/per_exec.json, out/unsafe_m1.svg"

test: setup
	$(PY) -m pytest -q -p no:cacheprovider -n auto --maxprocesses=4 --dist loadfile

# the compiled build is used only while the sources are exactly those it was built from
fast: setup
	$(PY) -m pip install -q -e '.[test,fast]'
	$(PY) -m model.fast_build

bench: setup
	$(PY) -m bench.run_all

bpfprogs: setup
	$(MAKE) -C bpfprogs

clean:
	rm -rf $(VENV) out .pytest_cache build/fast
