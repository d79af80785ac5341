#!/usr/bin/env node
// Composes the subgraph SDLs listed in federation/subgraphs.json into a Federation 2
// supergraph with Apollo's own composition library (@apollo/composition).
//
//   node federation/compose.mjs                       write graphql/supergraph.graphql
//   node federation/compose.mjs --check               exit 1 if that file is stale
//   node federation/compose.mjs --out - --url all=http://127.0.0.1:4101/graphql
//   node federation/compose.mjs --api-schema -        print the supergraph's API schema
//
// Options: --root DIR (repository root; default: this file's parent directory),
// --config FILE (default ROOT/federation/subgraphs.json), --out FILE|- (default
// ROOT/graphql/supergraph.graphql), --url NAME=URL (routing URL of one subgraph, repeatable;
// default http://127.0.0.1:PORT/graphql from the config), --url-template TEMPLATE (every
// subgraph's routing URL, with {name} and {port} filled in, e.g. for docker-compose:
// http://subgraph-{name}:8000/graphql), --api-schema FILE|-, --check.
// Exit status: 0 composed, 1 composition failed or stale (each error on stderr), 2 bad usage.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

import { composeServices } from '@apollo/composition';
import { parse, printSchema } from 'graphql';

const HERE = path.dirname(fileURLToPath(import.meta.url));

function fail(status, lines) {
  for (const line of lines) process.stderr.write(`${line}\n`);
  process.exit(status);
}

function options() {
  try {
    const { values } = parseArgs({
      options: {
        root: { type: 'string', default: path.dirname(HERE) },
        config: { type: 'string' },
        out: { type: 'string' },
        url: { type: 'string', multiple: true, default: [] },
        'url-template': { type: 'string' },
        'api-schema': { type: 'string' },
        check: { type: 'boolean', default: false },
      },
    });
    return values;
  } catch (error) {
    return fail(2, [`compose: ${error.message}`]);
  }
}

function routingUrls(config, overrides, template) {
  const urls = {};
  for (const [name, entry] of Object.entries(config.subgraphs)) {
    const pattern = template ?? 'http://127.0.0.1:{port}/graphql';
    urls[name] = pattern.replaceAll('{name}', name).replaceAll('{port}', String(entry.port));
  }
  for (const pair of overrides) {
    const [name, url] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
    if (!(name in urls) || !url) fail(2, [`compose: --url ${pair}: no subgraph named "${name}"`]);
    urls[name] = url;
  }
  return urls;
}

function sdlPath(name, entry) {
  return entry.sdl ?? `graphql/subgraphs/${name}.graphql`;
}

function unlisted(root, config) {
  const dir = path.join(root, 'graphql', 'subgraphs');
  let files = [];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.graphql'));
  } catch {
    return [];
  }
  const listed = new Set(Object.entries(config.subgraphs).map(([n, e]) => sdlPath(n, e)));
  return files
    .map((f) => `graphql/subgraphs/${f}`)
    .filter((f) => !listed.has(f))
    .map((f) => `${f} is not a subgraph in federation/subgraphs.json: add it there or delete it`);
}

function services(root, config, urls) {
  const problems = unlisted(root, config);
  const result = [];
  for (const [name, entry] of Object.entries(config.subgraphs)) {
    const file = sdlPath(name, entry);
    try {
      const typeDefs = parse(readFileSync(path.join(root, file), 'utf8'));
      result.push({ name, url: urls[name], typeDefs });
    } catch (error) {
      problems.push(`${file} (subgraph ${name}): ${error.message}`);
    }
  }
  if (problems.length) fail(1, problems.map((p) => `composition error: ${p}`));
  return result;
}

function write(target, text) {
  if (target === '-') process.stdout.write(text);
  else writeFileSync(target, text);
}

const args = options();
const root = path.resolve(args.root);
const configFile = path.resolve(args.config ?? path.join(root, 'federation', 'subgraphs.json'));
const config = JSON.parse(readFileSync(configFile, 'utf8'));
const result = composeServices(services(root, config, routingUrls(config, args.url, args['url-template'])));
if (result.errors) {
  fail(
    1,
    result.errors.map((e) => `composition error [${e.extensions?.code ?? 'ERROR'}]: ${e.message}`),
  );
}
const supergraph = `${result.supergraphSdl.trimEnd()}\n`;
const out = args.out ?? path.join(root, 'graphql', 'supergraph.graphql');
if (args.check) {
  let current = '';
  try {
    current = readFileSync(out, 'utf8');
  } catch {
    // a missing file is stale too
  }
  if (current !== supergraph) {
    fail(1, [`${path.relative(root, out)} is stale: run \`make supergraph\` and commit it`]);
  }
  process.stderr.write(`${path.relative(root, out)} is up to date\n`);
} else {
  write(out, supergraph);
  if (out !== '-') {
    const names = Object.keys(config.subgraphs).join(', ');
    process.stderr.write(`composed ${names} into ${path.relative(root, out) || out}\n`);
  }
}
if (args['api-schema']) {
  write(args['api-schema'], `${printSchema(result.schema.toAPISchema().toGraphQLJSSchema())}\n`);
}
