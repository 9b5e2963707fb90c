# Two commands do all set-up on a fresh machine: `make dev` runs the system, `make test` tests it.
.PHONY: dev up down test bench reliability package

dev:          ## local stack + every function under cargo lambda watch, foreground (Ctrl-C stops all)
	bash scripts/stack.sh dev

up:           ## the same in the background; settings in .local/env
	bash scripts/stack.sh up

down:         ## stop what `make up` started
	bash scripts/stack.sh down

test:         ## install what is missing, lint, start the local stack, run every test
	bash scripts/test.sh

bench:        ## release builds, then cold start, warm latency, memory and a 10,000-workspace cancellation
	bash scripts/bench.sh

reliability:  ## load run, DynamoDB killed mid-load, SES unreachable mid-cancellation; invariants checked from the table
	bash scripts/reliability.sh

package:      ## sam build --beta-features (what sam deploy ships), then a check of every function's arm64 bootstrap
	bash scripts/package.sh
