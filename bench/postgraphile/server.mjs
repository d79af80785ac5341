// `node server.mjs`: PostGraphile 5 on grafserv's plain Node HTTP server (DATABASE_URL, PORT).
import { createServer } from "node:http";
import { postgraphile } from "postgraphile";
import { grafserv } from "postgraphile/grafserv/node";
import preset from "./graphile.config.mjs";

const pgl = postgraphile(preset);
const serv = pgl.createServ(grafserv);
const server = createServer();
server.once("listening", () => console.log(`postgraphile listening on ${server.address().port}`));
serv.addTo(server).catch((error) => {
  console.error(error);
  process.exit(1);
});
server.listen(preset.grafserv.port, preset.grafserv.host);
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.once(signal, () => {
    server.close();
    pgl.release();
    process.exit(0);
  });
}
