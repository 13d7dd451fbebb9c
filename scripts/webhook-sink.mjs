// The endpoint `scripts/bench writes --webhook` delivers to: answers 204 to every POST and
// counts requests and distinct webhook-ids; GET answers the counts as JSON. Node keeps its
// own cost small beside the server on a 2-core machine. Prints its port, then serves.
import { createServer } from "node:http";

const ids = new Set();
let requests = 0;
const server = createServer((request, response) => {
  if (request.method === "GET") {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ ids: ids.size, requests }));
    return;
  }
  request.resume();
  request.on("end", () => {
    requests += 1;
    ids.add(request.headers["webhook-id"]);
    response.writeHead(204).end();
  });
});
server.listen(0, "127.0.0.1", () => console.log(server.address().port));
