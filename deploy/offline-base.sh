#!/usr/bin/env bash
# Builds the base image the Dockerfile starts FROM, locally, without any image
# registry: for air-gapped sites (and CI machines) that reach Debian's package
# mirror but no container registry.
#
#   deploy/offline-base.sh            # imports node:20-bookworm-slim
#   BASE_TAG=my/base:1 deploy/offline-base.sh
#
# What goes in:
#   - Debian bookworm, `debootstrap --variant=minbase` (a few dozen packages:
#     Essential, apt, and what is listed in INCLUDE), from MIRROR;
#   - Node.js and npm copied from this machine (`command -v node`), laid out as
#     the official node image lays them out (/usr/local/bin/node, npm, npx);
#   - this machine's CA bundle, so npm and apt inside the build trust what this
#     machine trusts (a site's TLS-inspecting proxy included): Node reads it
#     through NODE_EXTRA_CA_CERTS, set in the image;
#   - tini (the init process the image runs under) from Debian.
# The result is `docker import`ed under BASE_TAG, the tag the Dockerfile's
# FROM names, so the real Dockerfile builds unchanged on top of it (docs/deploy.md).
#
# Needs: root, debootstrap, docker (a running daemon), Node.js >= 20.19.
# Measured here: about 40 s, most of it debootstrap's downloads.
set -euo pipefail

BASE_TAG=${BASE_TAG:-node:20-bookworm-slim}
SUITE=${SUITE:-bookworm}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
INCLUDE=${INCLUDE:-tini,ca-certificates}
NODE_BIN=${NODE_BIN:-$(command -v node || true)}

die() { echo "offline-base: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (debootstrap needs it)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"
command -v docker >/dev/null || die "docker is missing: apt-get install docker.io"
docker info >/dev/null 2>&1 || die "the Docker daemon does not answer; start it (e.g. dockerd --bridge=none --iptables=false &)"
[ -n "$NODE_BIN" ] && [ -x "$NODE_BIN" ] || die "node is not on PATH (set NODE_BIN)"
NODE_BIN=$(readlink -f "$NODE_BIN")
node_major=$("$NODE_BIN" -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || die "Node.js $("$NODE_BIN" --version) is too old: the engine needs >= 20.19"
# npm as the machine has it: next to node (official tarballs) or in /usr/lib (Debian/NodeSource packages).
NPM_DIR=${NPM_DIR:-}
for d in "$(dirname "$NODE_BIN")/../lib/node_modules/npm" /usr/lib/node_modules/npm /usr/local/lib/node_modules/npm; do
  [ -z "$NPM_DIR" ] && [ -f "$d/bin/npm-cli.js" ] && NPM_DIR=$(readlink -f "$d")
done
[ -n "$NPM_DIR" ] || die "npm was not found next to $NODE_BIN (set NPM_DIR)"
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
[ -f "$CA_BUNDLE" ] || die "no CA bundle at $CA_BUNDLE (set CA_BUNDLE)"

root=$(mktemp -d /tmp/twin-base.XXXXXX)
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
echo "offline-base: debootstrap $SUITE (minbase, +$INCLUDE) from $MIRROR"
debootstrap --variant=minbase --include="$INCLUDE" "$SUITE" "$root" "$MIRROR" >"$root.log" 2>&1 \
  || { tail -20 "$root.log" >&2; die "debootstrap failed (full log: $root.log)"; }
rm -f "$root.log"

echo "offline-base: Node.js $("$NODE_BIN" --version) from $NODE_BIN, npm from $NPM_DIR"
install -D -m 0755 "$NODE_BIN" "$root/usr/local/bin/node"
mkdir -p "$root/usr/local/lib/node_modules"
cp -a "$NPM_DIR" "$root/usr/local/lib/node_modules/npm"
ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
install -D -m 0644 "$CA_BUNDLE" "$root/etc/ssl/certs/ca-certificates.crt"
# The built machine's libraries node links against must be in the image (Debian's node links only libc and libstdc++).
missing=$(chroot "$root" /usr/local/bin/node -e 'process.exit(0)' 2>&1 || true)
[ -z "$missing" ] || die "node does not run inside the base: $missing"

# Slim it as the official slim images do: no apt lists, docs or caches.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/*
# Debian's sources for apt inside the image (the Dockerfile's conditional apt-get).
printf 'deb %s %s main\ndeb %s %s-updates main\n' "$MIRROR" "$SUITE" "$MIRROR" "$SUITE" >"$root/etc/apt/sources.list"

tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
  --change "ENV NODE_VERSION=$("$NODE_BIN" -p process.versions.node)" \
  --change 'CMD ["node"]' \
  --message "twin-engine offline base: debootstrap $SUITE minbase + Node.js from the build machine" \
  - "$BASE_TAG" >/dev/null
echo "offline-base: imported $BASE_TAG in $(( $(date +%s) - start )) s ($(docker image inspect -f '{{.Size}}' "$BASE_TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
