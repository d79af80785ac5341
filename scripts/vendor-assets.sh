#!/usr/bin/env bash
# Refresh the browser assets mlgraph serves itself (GraphiQL and the React it runs on), so that
# no page of the server loads anything from elsewhere. A maintainer's tool: it needs npm; users
# and CI do not (the gzipped files are committed under src/mlgraph/app/static/vendor/).
# Usage: scripts/vendor-assets.sh   (then commit src/mlgraph/app/static/vendor/)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=src/mlgraph/app/static/vendor
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# package@version  file-in-package ...
PACKAGES=(
  "graphiql@3.8.3 graphiql.min.js graphiql.min.css LICENSE"
  "react@18.2.0 umd/react.production.min.js LICENSE"
  "react-dom@18.2.0 umd/react-dom.production.min.js LICENSE"
)
rm -rf "$OUT" && mkdir -p "$OUT"
manifest="{}"
for entry in "${PACKAGES[@]}"; do
  read -r spec files <<<"$entry"
  packed=$(cd "$WORK" && npm pack "$spec" --json --loglevel=error)
  tarball=$(jq -r '.[0].filename' <<<"$packed")
  integrity=$(jq -r '.[0].integrity' <<<"$packed")
  mkdir -p "$WORK/${spec}" && tar xzf "$WORK/$tarball" -C "$WORK/${spec}"
  name=${spec%@*} version=${spec##*@}
  for file in $files; do
    base=$(basename "$file")
    if [ "$base" = LICENSE ]; then
      cp "$WORK/${spec}/package/$file" "$OUT/$name.LICENSE"
      continue
    fi
    sha=$(sha256sum "$WORK/${spec}/package/$file" | cut -d' ' -f1)
    gzip -9n <"$WORK/${spec}/package/$file" >"$OUT/$base.gz"
    manifest=$(jq --arg f "$base" --arg p "$name" --arg v "$version" --arg i "$integrity" \
      --arg s "$sha" '.[$f] = {package: $p, version: $v, npmIntegrity: $i, sha256: $s}' <<<"$manifest")
  done
done
jq -S . <<<"$manifest" >"$OUT/manifest.json"
ls -l "$OUT"
