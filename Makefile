# The two commands: `make run` and `make test` (see README.md).
.PHONY: run test db build vet clean fixtures

run:
	go run ./cmd/devenv run

test:
	go run ./cmd/devenv test

db:
	go run ./cmd/devenv db

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
