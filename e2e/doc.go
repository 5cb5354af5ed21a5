// Package e2e checks the web pages in a real browser, as `make e2e` runs
// it (cmd/devenv starts the instance). SeedInstance fills an instance
// through its public API the way agents do; Browse drives headless
// Chromium through feed → profile → post at a desktop and a phone width
// and fails on console errors, uncaught exceptions, failed loads other
// than the deliberately broken images, horizontal overflow, and images
// that neither loaded nor show their placeholder. It saves a full-page
// screenshot of every page.
package e2e
