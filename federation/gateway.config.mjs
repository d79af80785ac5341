// Hive Gateway over the composed supergraph (see README "Federation").
//
//   node_modules/.bin/hive-gateway supergraph ../graphql/supergraph.graphql -c gateway.config.mjs
//
// Credentials pass through to every subgraph, which enforces the same principal rules as the
// combined process: HTTP requests forward `Authorization`, `X-Api-Key` and `Idempotency-Key`,
// and subscriptions go to the subgraphs over graphql-transport-ws with the client's
// credentials on the upgrade request (or, with GATEWAY_SUBSCRIPTIONS=sse, over server-sent
// events with the forwarded headers). Nothing remote is contacted: no Hive registry, CDN,
// usage reporting or telemetry (none is configured, and the CLI flags that would turn them on
// are not passed by mlgraph's launcher).
import { defineConfig } from '@graphql-hive/gateway';
import { GraphQLError } from 'graphql';

/** Request headers a subgraph needs to act as the client's principal. */
const FORWARDED = ['authorization', 'x-api-key', 'idempotency-key'];

/**
 * A query whose subgraph request fails (connection refused, 5xx, 429) is retried this often,
 * about 0.4 s, 0.5 s, 0.6 s apart: a subgraph restarting. A mutation is never resent: it may
 * have been applied.
 */
const RETRIES = Number(process.env.GATEWAY_UPSTREAM_RETRIES ?? 3);
const upstreamRetry = ({ executionRequest }) =>
  executionRequest.operationType === 'mutation'
    ? { maxRetries: 0 }
    : { maxRetries: RETRIES, retryDelay: 300 };

/**
 * How subscriptions reach the subgraphs: `ws` (graphql-transport-ws, the default) or `sse`
 * (Hive Gateway's own HTTP transport: `GET /graphql` with `Accept: text/event-stream`).
 */
const SUBSCRIPTIONS = process.env.GATEWAY_SUBSCRIPTIONS ?? 'ws';
if (!['ws', 'sse'].includes(SUBSCRIPTIONS)) {
  throw new Error(`GATEWAY_SUBSCRIPTIONS must be ws or sse, not ${SUBSCRIPTIONS}`);
}

/** Over WebSocket the credentials go on the upgrade request (HTTP forwards them as below). */
const WS_SUBSCRIPTIONS = {
  '*.http': {
    options: {
      subscriptions: {
        kind: 'ws',
        headers: [
          ['authorization', '{context.headers.authorization}'],
          ['x-api-key', '{context.headers.x-api-key}'],
        ],
      },
    },
  },
};

const unreachable = new Set();

/**
 * A WebSocket client may send its credentials in `connection_init` (as mlgraph's own GraphiQL
 * does); the gateway merges that payload into `context.headers` with the client's spelling
 * (`Authorization`). Lower-case the names so the subscription headers below find them, and
 * read the payload keys mlgraph accepts besides headers (`token`, `apiKey`) as the headers.
 */
const connectionParamsAsHeaders = {
  onContextBuilding({ context, extendContext }) {
    if (!context.connectionParams) return;
    const headers = {};
    for (const [name, value] of Object.entries(context.headers ?? {})) {
      if (typeof value === 'string') headers[name.toLowerCase()] = value;
    }
    if (!headers.authorization && headers.token) headers.authorization = `Bearer ${headers.token}`;
    if (!headers['x-api-key'] && headers.apikey) headers['x-api-key'] = headers.apikey;
    extendContext({ headers });
  },
};

const CONNECTION_FAILED = /fetch failed|ECONNREFUSED|ECONNRESET|socket hang up/i;

/**
 * A subgraph that does not answer: the client gets `subgraph "NAME" is not answering` (code
 * SUBREQUEST_HTTP_ERROR, extensions.serviceName) instead of a masked "Unexpected error", and
 * the log says once which subgraph the gateway is waiting for, and once when it answers again.
 * Requests are retried (upstreamRetry) before that.
 */
function subgraphWatch(log) {
  return {
    onSubgraphExecute({ subgraphName, transportEntry }) {
      return ({ result, setResult }) => {
        if (!result || typeof result[Symbol.asyncIterator] === 'function') return;
        const errors = result.errors ?? [];
        const down = errors.filter((e) => CONNECTION_FAILED.test(String(e.message)));
        if (down.length && !unreachable.has(subgraphName)) {
          unreachable.add(subgraphName);
          log.warn(`subgraph "${subgraphName}" at ${transportEntry?.location} is not answering; waiting for it`);
        } else if (!down.length && unreachable.delete(subgraphName)) {
          log.info(`subgraph "${subgraphName}" answers again`);
        }
        if (!down.length) return;
        const clear = new GraphQLError(`subgraph "${subgraphName}" is not answering`, {
          extensions: { code: 'SUBREQUEST_HTTP_ERROR', serviceName: subgraphName },
        });
        setResult({ ...result, errors: [...errors.filter((e) => !down.includes(e)), clear] });
      };
    },
  };
}

export const gatewayConfig = defineConfig({
  propagateHeaders: {
    fromClientToSubgraphs({ request, context }) {
      const headers = {};
      for (const name of FORWARDED) {
        // context.headers: a WebSocket client's connection_init payload (see above)
        const value = request.headers.get(name) ?? context?.headers?.[name];
        if (value) headers[name] = value;
      }
      return headers;
    },
  },
  transportEntries: SUBSCRIPTIONS === 'ws' ? WS_SUBSCRIPTIONS : {},
  upstreamRetry,
  plugins: (ctx) => [connectionParamsAsHeaders, subgraphWatch(ctx.log)],
  graphiql: { title: 'mlgraph (federated)' },
  landingPage: false,
});
