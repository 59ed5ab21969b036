# packaging/deb.mk: the Debian package of heartbeat. Included by the main
# Makefile (-include packaging/deb.mk); uses its VERSION, BIN, GO and the
# build target.
#
#   make deb                       dist/heartbeat_<version>_<arch>.deb
#   make deb VERSION=v4.1.0        stamp binaries and package with 4.1.0
#   make deb DEB_VERSION=1:4.1.0~rc1-1 override only the package version
#   make lint-deb                  lintian on the package
#
# The package version comes from VERSION (git describe) through
# packaging/deb-version.sh, with epoch 1: so that it upgrades Debian's
# heartbeat 1:3.0.6. Builder: dpkg-deb; man pages: go-md2man (run with
# go run, not a module dependency).

DIST           ?= dist
DEB_ARCH       ?= $(shell $(GO) env GOARCH | sed -e 's/^386$$/i386/' -e 's/^arm$$/armhf/')
MD2MAN_VERSION ?= v2.0.7
MD2MAN         ?= $(GO) run github.com/cpuguy83/go-md2man/v2@$(MD2MAN_VERSION)
DEB_MAINTAINER ?= Heartbeat Go maintainers <heartbeat@linuxha.invalid>
DEB_REVISION   ?= 1
DEB_VERSION    ?= $(shell packaging/deb-version.sh '$(VERSION)' "$$(git log -1 --format=%ct 2>/dev/null || echo 0)" '$(DEB_REVISION)')
DEB_FILE        = $(DIST)/heartbeat_$(patsubst 1:%,%,$(DEB_VERSION))_$(DEB_ARCH).deb

.PHONY: deb
deb: build ## build the Debian package dist/heartbeat_<version>_<arch>.deb
	@VERSION='$(VERSION)' DEB_VERSION='$(DEB_VERSION)' BIN='$(BIN)' DIST='$(DIST)' \
		DEB_ARCH='$(DEB_ARCH)' MD2MAN='$(MD2MAN)' DEB_MAINTAINER='$(DEB_MAINTAINER)' \
		packaging/build-deb.sh

.PHONY: lint-deb
lint-deb: deb ## run lintian on the Debian package (installs lintian if missing)
	@command -v lintian >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq lintian; }
	lintian --fail-on error,warning --display-info --pedantic $(DEB_FILE)

.PHONY: deb-version
deb-version: ## print the Debian version make deb would use
	@echo '$(DEB_VERSION)'
