# mqttids: the two commands a newcomer needs are `make run` and `make test`.
# Both create .venv and install what they need on first use.

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
JDBC_JAR := /usr/share/java/postgresql.jar
export PATH := $(CURDIR)/$(BIN):$(PATH)
export PYTHONPATH := $(CURDIR)/plugins:$(CURDIR)/jobs

TRAIN ?=
TEST ?=
PARAMS ?=
LABELS ?=
MQTT_PORTS ?=
SPLIT_BY ?=
# Quoted: a glob (TRAIN='corpus/*-train.pcap') reaches the pipeline unexpanded, as one input.
RUN_ARGS := $(if $(TRAIN),--train '$(TRAIN)') $(if $(TEST),--test '$(TEST)') \
	$(if $(LABELS),--labels '$(LABELS)') $(if $(MQTT_PORTS),--mqtt-ports '$(MQTT_PORTS)') \
	$(if $(SPLIT_BY),--split-by '$(SPLIT_BY)') $(if $(PARAMS),--params '$(PARAMS)')
SOURCE ?= replay
REPLAY ?=
DURATION ?= 300
# The benchmarks are extensionless scripts, which ruff does not pick up by itself.
BENCH_SCRIPTS := bench/ingest bench/train bench/distinct bench/stream bench/detect bench/e2e
# Test workers (pytest-xdist): one per core; docs/testing.md#workers says how the work is spread.
TEST_WORKERS ?= 2
STREAM_ARGS := --source $(SOURCE) $(if $(REPLAY),--replay $(abspath $(REPLAY))) --duration $(DURATION)

.PHONY: help install system-deps run test lint format airflow bench bench-train bench-distinct bench-e2e sample db-start db-stop db-upgrade constraints clean \
	stream bench-stream kafka-start kafka-stop mlflow mlflow-stop report-screenshot

help: ## show the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/' | expand -t 14

$(STAMP): requirements.txt constraints.txt pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps -e .
	$(BIN)/pip check
	touch $@

install: $(STAMP) system-deps ## create .venv and install everything

system-deps: ## Java 17, the PostgreSQL JDBC driver, tshark, mosquitto and chromium (apt-get where possible)
	@sh scripts/system-deps-capture.sh
	@sh scripts/system-deps-browser.sh
	@command -v java >/dev/null || [ -n "$$JAVA_HOME" ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; \
	  else echo "Spark needs Java 17: install openjdk-17-jre-headless (or set JAVA_HOME)"; exit 1; fi; }
	@[ -n "$$POSTGRES_JDBC_JAR" ] || [ -f $(JDBC_JAR) ] || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get install -y -qq libpostgresql-jdbc-java 2>/dev/null || \
	    { apt-get update -qq && apt-get install -y -qq libpostgresql-jdbc-java; }; \
	  else echo "No PostgreSQL JDBC jar: apt-get install libpostgresql-jdbc-java, or set POSTGRES_JDBC_JAR;"; \
	       echo "otherwise Spark fetches it from Maven Central (MQTTIDS_JDBC_PACKAGE)."; fi; }

run: install ## run mqtt_pipeline end to end, quietly (TRAIN=, TEST= CSVs or captures; LABELS, MQTT_PORTS, SPLIT_BY; PARAMS='{json}'; VERBOSE=1)
	$(BIN)/python -m mqttids_airflow.local run $(RUN_ARGS)

stream: install ## run mqtt_tweet_stream once, print per-term totals (SOURCE=replay|x_api REPLAY=f DURATION=s)
	$(BIN)/python -m mqttids_airflow.local_stream $(STREAM_ARGS)

test: install ## lint, the import contracts, then the whole test suite on real Spark and PostgreSQL (TEST_WORKERS=2 in parallel)
	$(BIN)/ruff check . $(BENCH_SCRIPTS)
	$(BIN)/ruff format --check . $(BENCH_SCRIPTS)
	$(BIN)/lint-imports
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lint: install ## ruff check, format check and the import contracts (.importlinter)
	$(BIN)/ruff check . $(BENCH_SCRIPTS) && $(BIN)/ruff format --check . $(BENCH_SCRIPTS) && $(BIN)/lint-imports

format: install ## apply ruff's fixes and formatting
	$(BIN)/ruff check --fix . && $(BIN)/ruff format .

mlflow: install ## start the embedded MLflow server (reused if running) and print its UI URL
	@$(BIN)/python -m mqttids.runtime.embedded_mlflow start

mlflow-stop: install ## stop the embedded MLflow server
	$(BIN)/python -m mqttids.runtime.embedded_mlflow stop

airflow: install ## start Airflow standalone (web UI on :8080) with this project's DAGs
	$(BIN)/python -m mqttids_airflow.local airflow

report-screenshot: install ## run the report's test on real runs and save its page as docs/img/report.png
	MQTTIDS_REPORT_SCREENSHOT=$(CURDIR)/docs/img/report.png $(BIN)/pytest -x -q tests/orchestration/test_pipeline.py -k learns

bench: install ## ingest benchmark: this ingest vs Spark JDBC vs psql \copy
	$(BIN)/python bench/ingest

bench-train: install ## learning benchmark: wall time and peak memory per step at 1M and 5M rows
	$(BIN)/python bench/train

bench-distinct: install ## weighted-training benchmark: fits on distinct rows vs every row at 1M rows, side by side
	$(BIN)/python bench/distinct

bench-e2e: install ## end-to-end benchmark: mqtt_pipeline at 1M and 20M rows, per-task time and peak memory
	$(BIN)/python bench/e2e

bench-stream: install ## stream benchmark: replay -> Kafka -> stored counts, 1k and 10k tweets
	$(BIN)/python bench/stream

sample: install ## generate the reduced-shape sample into data/sample
	$(BIN)/python jobs/generate_sample.py --out data/sample --shape reduced --seed 0

db-start: install ## start the embedded PostgreSQL and print its URL
	$(BIN)/python -m mqttids.runtime.embedded_db start

db-stop: install ## stop the embedded PostgreSQL
	$(BIN)/python -m mqttids.runtime.embedded_db stop

db-upgrade: install ## apply the warehouse migrations (MQTTIDS_DB_URL, else the embedded PostgreSQL)
	$(BIN)/python -m mqttids.warehouse upgrade

kafka-start: install ## start the embedded Kafka broker (tansu) and print its address
	$(BIN)/python -m mqttids.runtime.embedded_kafka start

kafka-stop: install ## stop the embedded Kafka broker
	$(BIN)/python -m mqttids.runtime.embedded_kafka stop

constraints: ## re-pin constraints.txt from the current .venv
	( echo "# Full resolved dependency set, generated by 'make constraints' (pip freeze) from requirements.txt."; \
	  echo "# Airflow's published constraints file cannot be downloaded everywhere, so this pins the whole tree."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^mqttids' ) > constraints.txt

clean: ## stop the embedded database and broker, remove .venv, .local and generated data
	-$(BIN)/python -m mqttids.runtime.embedded_db stop
	-$(BIN)/python -m mqttids.runtime.embedded_kafka stop
	rm -rf $(VENV) .local data
