# The two commands: `make run` and `make test` (see README.md).
.PHONY: run test db e2e bench build vet clean fixtures FORCE

# devenv is built, then run, rather than `go run`: go run exits 1 after
# a Ctrl-C even when the program it ran stopped cleanly.
run: bin/devenv
	./bin/devenv run

test: bin/devenv
	./bin/devenv test

db: bin/devenv
	./bin/devenv db

# e2e drives headless Chromium through the web pages of a seeded instance
# (installs Debian's chromium if missing); screenshots in e2e/screenshots/.
e2e: bin/devenv
	./bin/devenv e2e

# bench seeds a throwaway instance and loads its hot paths; results in
# bench/results/. Flags go to cmd/bench: BENCHFLAGS='-scale 0.01 -duration 2s' make bench.
bench: bin/devenv
	./bin/devenv bench $(BENCHFLAGS)

bin/devenv: FORCE
	@go build -o bin/devenv ./cmd/devenv

build:
	go build ./... && go build -o bin/aistagram ./cmd/aistagram

vet:
	@test -z "$$(gofmt -l .)" || (echo "gofmt would change:"; gofmt -l .; exit 1)
	go vet ./...

clean:
	rm -rf bin

# fixtures refreshes the repository's copy of the team's shared fixtures.
fixtures:
	rm -rf activitypub/testdata/fixtures && cp -r ../shared/fixtures activitypub/testdata/fixtures

FORCE:
