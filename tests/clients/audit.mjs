// The GraphQL-over-HTTP audit suite (graphql-http's serverAudits) against a running
// Guildhall. Usage: node audit.mjs URL. Prints how many audits ran and every one that did
// not pass (MUST audits fail as errors, SHOULD and MAY audits as warnings), as JSON.
import { serverAudits } from "graphql-http";

const [url] = process.argv.slice(2);
const audits = serverAudits({ url, fetchFn: fetch });
const failures = [];
for (const audit of audits) {
  const result = await audit.fn();
  if (result.status !== "ok") {
    failures.push({ name: audit.name, status: result.status, reason: result.reason });
  }
}
console.log(JSON.stringify({ ran: audits.length, failures }));
