#!/usr/bin/env bash
# Builds the twin-engine image from the Dockerfile, tagged with the version in
# package.json and the git revision:
#   twin-engine:<version>  and  twin-engine:<version>-<revision>
# IMAGE=registry.example/twin-engine deploy/build-image.sh   # another name
# Extra arguments go to docker build (e.g. --build-arg BASE=…).
# --network host: on machines where Docker runs without a bridge (docs/deploy.md).
set -euo pipefail
cd "$(dirname "$0")/.."
IMAGE=${IMAGE:-twin-engine}
version=$(node -p 'require("./package.json").version')
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
if [ "$revision" != unknown ] && [ -n "$(git status --porcelain -- src bin twins rules package.json package-lock.json Dockerfile 2>/dev/null)" ]; then
  revision="$revision-dirty"
fi
docker build --network host \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" \
  -t "$IMAGE:$version" -t "$IMAGE:$version-$revision" "$@" .
echo "$IMAGE:$version-$revision"
