# DIEP developer commands. `make test` and `make run` set everything up themselves.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Tests use the machine's PostgreSQL and Redis (DB 14, kept apart from anything else).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/diep
TEST_BROKER_URL ?= redis://127.0.0.1:6379/14
PYTEST_ARGS ?= -n 2

.PHONY: setup test lint bench run migrate clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

setup: $(BIN)/.installed

# Browser tests run in a session of their own: Playwright keeps an event loop running in
# the test thread, which Django's async-safety check would take for async code.
test: setup
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/python -m pytest $(PYTEST_ARGS) -m "not browser and not spark"
	# The Spark engine: one pyspark session (local[2]) for the whole run, so no xdist.
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		$(BIN)/python -m pytest -p no:xdist -m spark
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) \
		DJANGO_ALLOW_ASYNC_UNSAFE=true $(BIN)/python -m pytest -m browser

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .

bench: setup
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/api_fire.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/glue_poll.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/events.py
	DATABASE_URL=$(TEST_DATABASE_URL) $(BIN)/python bench/schedules.py --alternative
	$(BIN)/python bench/etl.py
	$(BIN)/python bench/spark.py

migrate: setup
	$(BIN)/python manage.py migrate --noinput

run: setup
	$(BIN)/python -m diep_portal.embedded

clean:
	rm -rf $(VENV) var staticfiles .mypy_cache .ruff_cache .pytest_cache
