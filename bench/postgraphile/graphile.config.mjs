// PostGraphile 5 over mlgraph's tables: the reference peer of bench/compare.py.
import { makePgService } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

/** @type {GraphileConfig.Preset} */
const preset = {
  extends: [PostGraphileAmberPreset],
  pgServices: [
    makePgService({
      connectionString: process.env.DATABASE_URL,
      schemas: ["public"],
      poolConfig: { max: Number(process.env.PG_POOL_SIZE ?? 20) },
    }),
  ],
  grafserv: { port: Number(process.env.PORT ?? 8766), host: "127.0.0.1", graphiql: false, watch: false },
  grafast: { explain: false },
};

export default preset;
