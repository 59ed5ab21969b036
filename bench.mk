# Cluster benchmark (issue 10): included by the Makefile.

.PHONY: bench-cluster
bench-cluster: ## ours vs keepalived vs Heartbeat 3.0.6 on the cluster lab (root, ~15 min): docs/benchmarks.md
	./scripts/bench

.PHONY: bench-stress
bench-stress: ## false failovers under 20% loss and busy cores, ours vs keepalived (root, ~12 min)
	./scripts/bench stress
