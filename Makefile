# The two commands of the README. Both install what they need.
.PHONY: demo test

## Run the demo against a local worker on workerd.
demo:
	bash scripts/demo.sh

## Run every test suite (Rust core, Elixir, Python, Kotlin/Swift bindings).
test:
	bash scripts/test.sh
