# The two commands of the README. Both install what they need.
.PHONY: demo test bench

## Run the demo against a local worker on workerd.
demo:
	bash scripts/demo.sh

## Run every test suite (Rust core, Elixir, Python, Kotlin/Swift bindings).
test:
	bash scripts/test.sh

## Benchmarks: every binding beside its peers and the raw Rust floor (bench/README.md).
bench:
	bash bench/run.sh
