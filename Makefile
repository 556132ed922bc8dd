# skv: the two commands the README starts with.
#   make demo   set up, then run skv on the bundled bpfprogs
#   make test   set up, then run the test suite
SHELL := /bin/bash
VENV  := .venv
PY    := $(VENV)/bin/python
SKV   := $(VENV)/bin/skv
STAMP := $(VENV)/.installed

.PHONY: setup system-deps demo test bench bpfprogs clean

setup: $(STAMP) system-deps

# Debian packages: clang-19/llvm-19 build and disassemble bpfprogs/, graphviz draws CFGs.
system-deps:
	@missing=""; \
	command -v clang-19 >/dev/null || missing="$$missing clang-19"; \
	command -v llvm-objdump-19 >/dev/null || missing="$$missing llvm-19"; \
	command -v dot >/dev/null || missing="$$missing graphviz"; \
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
	@for o in bpfprogs/*.o; do $(SKV) info $$o || exit 1; done
	$(SKV) disasm bpfprogs/talk_unlikely.o
	$(SKV) cfg bpfprogs/talk_likely.o --format dot | head -n 30
	$(SKV) cfg bpfprogs/talk_likely.o --format svg -o out/talk_likely.svg
	@echo "wrote out/talk_likely.svg"

test: setup
	$(PY) -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) -m bench.run_all

bpfprogs: setup
	$(MAKE) -C bpfprogs

clean:
	rm -rf $(VENV) out .pytest_cache
