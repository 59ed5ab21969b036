# Cluster benchmark (issue 10): included by the Makefile.

.PHONY: bench-cluster
bench-cluster: ## ours vs keepalived vs Heartbeat 3.0.6 on the cluster lab (root, ~15 min): docs/benchmarks.md
	./scripts/bench
