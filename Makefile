# One task runner for users, developers and CI. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
K8S_VENV := .venv-k8s
export PATH := $(BIN):$(PATH)

.PHONY: help venv engine build reproduce up down debug logs verify rollout scan bench lint unit \
	k8s-check integration test swarm-up swarm-update swarm-verify swarm-down keys publish registry-down

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: deploy/requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --require-hashes -r deploy/requirements/dev.txt
	touch $@

venv: $(VENV)/.installed ## create the development environment from the hash-locked requirements

$(K8S_VENV)/.installed: deploy/requirements/k8s.txt
	$(PYTHON) -m venv $(K8S_VENV)
	$(K8S_VENV)/bin/pip install --quiet --require-hashes -r deploy/requirements/k8s.txt
	touch $@

engine: venv ## make sure a Docker engine and Compose v2 answer (installs and starts them if needed)
	deploy/provision/engine.sh

build: engine ## build the calculator and proxy images (local bases and wheelhouse when offline)
	deploy/scripts/build.sh

reproduce: engine ## build the calculator image twice with buildah from empty storage; compare the digests, load it into Docker
	deploy/scripts/reproduce.sh

# DEPLOY_FROM=registry runs what `make publish` recorded, verified first: nothing is built.
deploy_images := $(if $(filter registry,$(DEPLOY_FROM)),venv engine,build)

up: $(deploy_images) ## build and start the proxy and replicas; returns when every container is healthy
	deploy/scripts/up.sh

down: ## stop and remove the stack
	docker compose down --remove-orphans

debug: ## a shell beside a running replica (the image has none): CONTAINER=id, else the first
	deploy/scripts/debug.sh $${CONTAINER:-}

logs: ## follow the proxy's access records and the replicas' logs
	docker compose logs --follow proxy calculator

verify: venv ## check every running container against the hardening checklist (COMPOSE_PROJECT_NAME picks another)
	$(BIN)/python deploy/verify

rollout: $(deploy_images) ## replace every replica with one of the current tree and config, without a failed request
	deploy/scripts/rollout.sh

swarm-up: engine ## deploy the Swarm stack (a single-node swarm if none); returns when every task is healthy
	deploy/scripts/swarm.sh up

swarm-update: engine ## roll out the current tree and config to the Swarm stack, health-gated
	deploy/scripts/swarm.sh update

swarm-verify: venv ## check every calculator task of the Swarm stack against the hardening checklist
	$(BIN)/python deploy/verify --swarm $${SWARM_STACK:-calculator}

swarm-down: ## remove the Swarm stack (and the swarm, if swarm-up created it)
	deploy/scripts/swarm.sh down

keys: ## create the cosign key pair that signs published images (once; docs/supply-chain.md)
	deploy/supply-chain/make-keys.sh

publish: venv engine ## push both images to the local registry (127.0.0.1:5000), signed, with SBOM and provenance
	deploy/supply-chain/publish.sh

registry-down: ## stop the local registry (the images it holds stay in its volume)
	deploy/registry/registry.sh down

scan: build ## scan both images with Trivy; reports land in reports/ and reports/proxy/
	deploy/trivy/scan-images.sh

bench: build ## container CPU per request, memory, start, image size and rebuild beside a bare baseline; the proxy's cost
	deploy/scripts/bench.sh

lint: venv ## ruff, mypy (strict), hadolint and trivy config
	ruff check .
	ruff format --check .
	mypy
	hadolint $$(git ls-files '*Dockerfile')
# build/, reports/ and .venv-k8s hold scratch copies, scan results and third-party packages,
# not the project's own files;
# deploy/k8s holds kustomize sources, incomplete by design: k8s-check scans what they render.
	trivy config --quiet --skip-check-update --skip-dirs build --skip-dirs reports \
	  --skip-dirs deploy/k8s --skip-dirs $(K8S_VENV) --exit-code 1 .

unit: venv ## fast tests without Docker
	pytest tests/unit

k8s-check: venv $(K8S_VENV)/.installed ## render the Kubernetes overlay; schema-validate it, trivy config, checkov
	python deploy/k8s/manifests.py

integration: engine ## tests against the running container stack (builds the image; installs wrk if missing)
	command -v wrk >/dev/null || { export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends wrk >/dev/null; }
	pytest -m integration tests/integration --ignore=tests/integration/test_swarm.py
# Last and on their own: leaving the swarm they create cuts the engine's name
# resolution for compose stacks already running (Docker 20.10; docs/swarm.md).
	pytest -m integration tests/integration/test_swarm.py

test: lint k8s-check unit integration ## the whole suite, as CI runs it
