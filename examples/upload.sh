#!/usr/bin/env bash
# Upload a file as a model version's weights with curl: declare it, PUT the bytes to the
# presigned URL, complete (the server checks size and SHA-256), and get a download URL.
# Usage: MLGRAPH_TOKEN=... examples/upload.sh <ModelVersion id> <file>
# The server: MLGRAPH_URL, else http://127.0.0.1:$MLGRAPH_PORT (8000), as `mlgraph serve` prints it.
set -euo pipefail
API=${MLGRAPH_URL:-http://127.0.0.1:${MLGRAPH_PORT:-8000}}/graphql
VERSION=$1 FILE=$2

gql() { # gql QUERY VARIABLES: POST one operation, print the answer, fail on any error
  jq -n --arg q "$1" --argjson v "$2" '{query: $q, variables: $v}' |
    curl -sSf "$API" -H "Authorization: Bearer $MLGRAPH_TOKEN" \
      -H 'Content-Type: application/json' --data-binary @- |
    jq -e 'if .errors or ([.data[].userErrors[]?] | length > 0) then halt_error else . end'
}

# 1. Declare the file: the answer holds a presigned PUT URL and the headers to send with it.
declared=$(gql 'mutation($in: CreateArtifactUploadInput!) { createArtifactUpload(input: $in) {
    artifact { id } upload { url headers { name value } } userErrors { code message } } }' \
  "$(jq -n --arg v "$VERSION" --arg name "$(basename "$FILE")" \
    --argjson size "$(stat -c %s "$FILE")" --arg sha "$(sha256sum "$FILE" | cut -d' ' -f1)" \
    '{in: {versionId: $v, kind: "WEIGHTS", fileName: $name, sizeBytes: $size, sha256: $sha}}')")
ARTIFACT=$(jq -r .data.createArtifactUpload.artifact.id <<<"$declared")

# 2. PUT the bytes straight to the store (S3, or this server for the local store).
mapfile -t HEADERS < <(jq -r '.data.createArtifactUpload.upload.headers[] |
  select(.name != "Content-Length") | "-H", "\(.name): \(.value)"' <<<"$declared")
curl -sSf -o /dev/null -T "$FILE" "${HEADERS[@]}" "$(jq -r .data.createArtifactUpload.upload.url <<<"$declared")"

# 3. Complete: only now, with the object checked, does the artifact become AVAILABLE.
gql 'mutation($in: CompleteArtifactUploadInput!) { completeArtifactUpload(input: $in) {
    artifact { status object { size etag } downloadUrl(expiresIn: 600) }
    userErrors { code message } } }' "$(jq -n --arg a "$ARTIFACT" '{in: {artifactId: $a}}')"
