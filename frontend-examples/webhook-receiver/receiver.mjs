// A Guildhall webhook receiver: checks every delivery with the Standard Webhooks library
// (signature and a five-minute timestamp window), prints each new event as one JSON line,
// and skips repeats by `webhook-id` — Guildhall delivers at least once, so after an outage
// or a crash a message may come twice. The ids already seen are kept in a file, so a
// receiver that is stopped and started again still prints every event exactly once.
//
//   WEBHOOK_SECRET=whsec_... node receiver.mjs [--port 4000] [--seen seen-ids.txt]
import { createServer } from "node:http";
import { appendFileSync, existsSync, readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Webhook } from "standardwebhooks";

const { values } = parseArgs({
  options: {
    port: { type: "string", default: "4000" },
    seen: { type: "string", default: "seen-ids.txt" },
  },
});
const secret = process.env.WEBHOOK_SECRET;
if (!secret) {
  console.error("set WEBHOOK_SECRET to the signingSecret createWebhook returned");
  process.exit(2);
}
const webhook = new Webhook(secret);
const seen = new Set(
  existsSync(values.seen) ? readFileSync(values.seen, "utf8").split("\n").filter(Boolean) : [],
);
// Deliveries larger than this are refused (Guildhall's are a few KB).
const MAX_BODY = 1024 * 1024;

const server = createServer((request, response) => {
  if (request.method !== "POST") {
    response.writeHead(405).end();
    return;
  }
  const chunks = [];
  let size = 0;
  request.on("data", (chunk) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      response.writeHead(413).end();
      request.destroy();
      return;
    }
    chunks.push(chunk);
  });
  request.on("end", () => {
    const body = Buffer.concat(chunks).toString("utf8");
    let event;
    try {
      event = webhook.verify(body, request.headers);
    } catch (error) {
      console.error(`refused a delivery: ${error.message}`);
      response.writeHead(400).end();
      return;
    }
    const id = request.headers["webhook-id"];
    if (!seen.has(id)) {
      seen.add(id);
      appendFileSync(values.seen, `${id}\n`);
      console.log(JSON.stringify({ id, type: event.type, timestamp: event.timestamp, data: event.data }));
    }
    response.writeHead(204).end();
  });
});

server.listen(Number(values.port), "127.0.0.1", () => {
  console.error(`listening on http://127.0.0.1:${server.address().port}/`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => server.close(() => process.exit(0)));
}
