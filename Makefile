# The two commands: `make dev` (the whole local stack) and `make test` (every test).
# Both install what they need into ./.venv (pinned in infra/requirements.txt).

SHELL := /bin/bash
VENV := .venv
PY ?= python3
export CARGO_TERM_COLOR ?= never

.PHONY: dev test all-tests venv browser build unit integration e2e lint fmt release bench seed emails demo clean

venv: $(VENV)/.installed

$(VENV)/.installed: infra/requirements.txt
	$(PY) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r infra/requirements.txt
	touch $@

## Debian's Chromium and ChromeDriver for the browser test, installed when missing.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
browser:
	@if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then \
	  echo "chromium and chromedriver: present"; \
	else \
	  export DEBIAN_FRONTEND=noninteractive; \
	  $(SUDO) apt-get install -y -q chromium chromium-driver \
	  || { $(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium chromium-driver; }; \
	fi

build:
	cargo build --workspace --all-targets

## Start moto, create the resources, serve every function with cargo lambda watch; Ctrl-C stops it all.
## The build runs under infra/guarded.sh: stopping make (or killing it) stops cargo and its rustc too.
dev: venv
	setsid -w sh infra/guarded.sh $$PPID cargo build --workspace --bins
	./target/debug/local-stack dev

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## Unit tests: the domain, the adapters' pure parts and the handlers over in-memory fakes.
unit: build
	cargo test --workspace --exclude seats-tests

## Integration and end-to-end tests: the real adapters against moto, the functions behind cargo lambda watch.
integration: venv browser build
	cargo test -p seats-tests -- --test-threads 2

## Every test in one cargo run, so the workspace's features resolve once and nothing is built
## twice (`unit` and `integration` each select fewer packages, which rebuilds the AWS crates);
## then one closing line with the totals of every test binary.
test: venv
	@mkdir -p .local
	set -o pipefail; $(MAKE) --no-print-directory lint all-tests 2>&1 | tee .local/test.log

all-tests: venv browser build
	cargo test --workspace --no-fail-fast -- --test-threads 2
	@awk '/^test result:/ {p+=$$4; f+=$$6; i+=$$8} END {printf "summary: %d passed, %d failed, %d skipped\n", p, f, i}' .local/test.log

fmt:
	cargo fmt --all

## Every function as a Lambda bootstrap (x86_64 here; add --arm64 where that target is installed), and its size.
release: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" cargo lambda build --release $(addprefix --bin ,$(notdir $(wildcard functions/*)))
	@for f in target/lambda/*/bootstrap; do printf '%-16s %6d KiB\n' "$$(basename $$(dirname $$f))" $$(( $$(stat -c %s $$f) / 1024 )); done

## A merchant and a product on the running `make dev` stack, and the pages to click through.
seed:
	cargo build --bin local-stack
	./target/debug/local-stack seed

## The emails the running stack sent (sign-in codes, invitations).
emails:
	cargo build --bin local-stack
	./target/debug/local-stack emails

## The whole story, step by step, against the running `make dev` stack.
demo:
	cargo build --bin local-stack
	./target/debug/local-stack demo

## DynamoDB requests, handler overhead and contention per flow, on moto (release build).
bench: venv
	cargo bench -p seats-tests --bench flows
	cargo bench -p seats-tests --bench suspension
	@if [ -d target/lambda ]; then cargo bench -p seats-tests --bench coldstart; else echo "(make release first for the cold-start table)"; fi

clean:
	cargo clean
	rm -rf .local
