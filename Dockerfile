# The gateway image: `docker build -t mlgraph .` (see docker-compose.yml for the topology).
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY src ./src
COPY graphql/operations ./graphql/operations
COPY graphql/trusted-documents.json ./graphql/
RUN pip install --no-cache-dir . && useradd --system --home /app mlgraph
USER mlgraph
ENV MLGRAPH_HOST=0.0.0.0 MLGRAPH_PORT=8000 MLGRAPH_GRAPHIQL=false \
    MLGRAPH_OPERATIONS_DIR=/app/graphql/operations
# Production: set MLGRAPH_TRUSTED_DOCUMENTS=/app/graphql/trusted-documents.json to run only
# the documents of graphql/operations/ (see the README, "GraphQL over HTTP").
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request as u; u.urlopen('http://127.0.0.1:8000/readyz')"
CMD ["mlgraph", "serve"]
