// The dashboard example (frontend-examples/dashboard) in headless Chromium, two people at
// once, against a running Guildhall. Usage: node dashboard.mjs CONFIG.json, where the
// file gives { api, password, alice, tableId, companyId, bob, bobId, adminRoleId,
// inviter: { email, companyId, roleId }, tokenSeconds (the server's access token
// lifetime), screenshots }. Starts the example's dev server (`npm run dev`) pointed at
// `api`, signs Alice and Bob in, has Alice insert, edit and delete a row while Bob
// watches, makes an edit of Bob's conflict with one of Alice's, has a third person invite
// Bob and Alice promote him while his bell counts (mark read, mark all read), carries on
// past the access tokens' expiry, takes the server away for two seconds (through a proxy)
// while rows are added, imports a CSV (one BULK change), and saves screenshots. Prints
// what each step saw and how long it took.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { eventually, localBrowser } from "./browser.mjs";

const config = JSON.parse(readFileSync(process.argv[2], "utf8"));
const example = join(dirname(fileURLToPath(import.meta.url)), "../../frontend-examples/dashboard");
const SEEN_WITHIN = 10_000;

function freePort() {
  return new Promise((resolve) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function startDevServer(api) {
  const port = await freePort();
  const vite = spawn(
    process.execPath,
    [join(example, "node_modules/vite/bin/vite.js"), "--port", String(port), "--strictPort"],
    { cwd: example, env: { ...process.env, GUILDHALL_URL: api }, stdio: ["ignore", "ignore", "inherit"] },
  );
  const url = `http://127.0.0.1:${port}`;
  try {
    await eventually(
      () => fetch(url).then((r) => r.ok, () => false),
      30_000,
      "the dashboard's dev server",
    );
  } catch (error) {
    vite.kill();
    throw error;
  }
  return { url, stop: () => vite.kill() };
}

/**
 * A TCP proxy in front of the server, as the dev server sees it: `outage(millis)` drops
 * every connection and refuses new ones for that long, as a server killed and started
 * again would.
 */
async function serverProxy(target) {
  const { hostname, port: targetPort } = new URL(target);
  const sockets = new Set();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {});
    }
    client.pipe(upstream).pipe(client);
  });
  const port = await freePort();
  const listen = () => new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));
  await listen();
  return {
    url: `http://127.0.0.1:${port}`,
    outage: async (millis, meanwhile) => {
      const closed = new Promise((resolve) => server.close(resolve));
      sockets.forEach((socket) => socket.destroy());
      await closed;
      await meanwhile();
      await new Promise((resolve) => setTimeout(resolve, millis));
      await listen();
    },
    close: () => {
      sockets.forEach((socket) => socket.destroy());
      server.close();
    },
  };
}

/** A fresh access token for `email`, straight from the server (the test's lifetime is short). */
async function tokenOf(email) {
  const answer = await fetch(`${config.api}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      query: "mutation($input: LoginInput!) { login(input: $input) { accessToken } }",
      variables: { input: { email, password: config.password } },
    }),
  }).then((r) => r.json());
  if (answer.errors) throw new Error(JSON.stringify(answer.errors));
  return answer.data.login.accessToken;
}

/** Inserts `rows` straight into the server (not through the proxy), as Alice. */
async function insertDirectly(rows) {
  const answer = await fetch(`${config.api}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await tokenOf(config.alice)}` },
    body: JSON.stringify({
      query: "mutation($t: ID!, $rows: [JSON!]!) { insertRows(tableId: $t, rows: $rows) { id } }",
      variables: { t: config.tableId, rows },
    }),
  }).then((r) => r.json());
  if (answer.errors) throw new Error(JSON.stringify(answer.errors));
}

async function signIn(context, url, email) {
  const page = await context.newPage();
  await page.goto(url);
  await page.fill("#sign-in input[name=email]", email);
  await page.fill("#sign-in input[name=password]", config.password);
  await page.click("#sign-in button[type=submit]");
  await page.waitForSelector("#grid tr[data-row-id]", { timeout: 20_000 });
  await page.waitForFunction(() => document.getElementById("connection")?.textContent === "live");
  return page;
}

/** How long until `selector` matches on `page` (it must within SEEN_WITHIN). */
async function seen(page, selector, since) {
  await page.waitForSelector(selector, { timeout: SEEN_WITHIN, state: "attached" });
  return Date.now() - since;
}

async function gone(page, selector, since) {
  await page.waitForSelector(selector, { timeout: SEEN_WITHIN, state: "detached" });
  return Date.now() - since;
}

const cell = (site, key) => `#grid tr:has(td[data-key=site]:text-is("${site}")) td[data-key=${key}]`;

const proxy = await serverProxy(config.api);
let dev = null;
let browser = null;
const report = {};
try {
  dev = await startDevServer(proxy.url);
  const local = await localBrowser();
  browser = local.browser;
  const newContext = local.newContext;
  report.outside = local.outside;
  report.pageErrors = local.pageErrors;
  const alice = await signIn(await newContext(), dev.url, config.alice);
  const bob = await signIn(await newContext(), dev.url, config.bob);
  const signedInAt = Date.now();
  report.rowsShown = await bob.locator("#grid tr[data-row-id]").count();
  report.chart = await bob.textContent("#chart-note");

  // Alice adds a row; Bob sees it.
  await alice.fill("#new-row input[name=site]", "Leeds");
  await alice.fill("#new-row input[name=day]", "2026-03-02");
  await alice.fill("#new-row input[name=co2e_kg]", "42.5");
  let since = Date.now();
  await alice.click("#new-row button[type=submit]");
  report.insertSeenMs = await seen(bob, cell("Leeds", "co2e_kg"), since);

  // Alice edits it; Bob sees the new value.
  await alice.click(cell("Leeds", "co2e_kg"));
  await alice.fill(`${cell("Leeds", "co2e_kg")} input`, "50");
  since = Date.now();
  await alice.press(`${cell("Leeds", "co2e_kg")} input`, "Enter");
  report.editSeenMs = await seen(bob, `${cell("Leeds", "co2e_kg")}:text-is("50")`, since);

  // Bob starts editing the same cell, Alice saves first: Bob is told, not overwritten.
  await bob.click(cell("Leeds", "co2e_kg"));
  await alice.click(cell("Leeds", "co2e_kg"));
  await alice.fill(`${cell("Leeds", "co2e_kg")} input`, "55");
  await alice.press(`${cell("Leeds", "co2e_kg")} input`, "Enter");
  await alice.waitForSelector(`${cell("Leeds", "co2e_kg")}:text-is("55")`);
  await bob.fill(`${cell("Leeds", "co2e_kg")} input`, "60");
  await bob.press(`${cell("Leeds", "co2e_kg")} input`, "Enter");
  await bob.waitForSelector("#problem:has-text('Someone changed this row')", { timeout: SEEN_WITHIN });
  report.conflict = await bob.textContent("#problem");
  await bob.waitForSelector(`${cell("Leeds", "co2e_kg")}:text-is("55")`, { timeout: SEEN_WITHIN });
  report.afterConflict = await bob.textContent(cell("Leeds", "co2e_kg"));
  await bob.screenshot({ path: join(config.screenshots, "conflict.png") });

  // Alice deletes it; it leaves Bob's grid.
  since = Date.now();
  await alice.click(`#grid tr:has(td[data-key=site]:text-is("Leeds")) button`);
  report.deleteSeenMs = await gone(bob, cell("Leeds", "site"), since);

  // Someone invites Bob to another company: his bell counts it, and he reads them all.
  report.unreadBefore = Number(await bob.textContent("#unread"));
  since = Date.now();
  const invited = await fetch(`${config.api}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await tokenOf(config.inviter.email)}` },
    body: JSON.stringify({
      query: "mutation($input: InviteMemberInput!) { inviteMember(input: $input) { id } }",
      variables: { input: { companyId: config.inviter.companyId, email: config.bob, roleId: config.inviter.roleId } },
    }),
  }).then((r) => r.json());
  if (invited.errors) throw new Error(JSON.stringify(invited.errors));
  report.bellSeenMs = await seen(bob, `#unread[data-unread="${report.unreadBefore + 1}"]`, since);
  report.unreadAfter = Number(await bob.textContent("#unread"));
  await bob.click("#bell summary");
  report.notification = await bob.textContent("#notifications li");
  await bob.screenshot({ path: join(config.screenshots, "notifications.png") });
  await bob.click("#notifications li button");
  await bob.waitForSelector('#unread[data-unread="0"]', { timeout: SEEN_WITHIN });
  report.unreadAfterMarkRead = Number(await bob.textContent("#unread"));
  // Alice makes Bob an admin: a second notification, then "Mark all read".
  const promoted = await fetch(`${config.api}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await tokenOf(config.alice)}` },
    body: JSON.stringify({
      query: "mutation($c: ID!, $u: ID!, $r: ID!) { changeMemberRole(companyId: $c, userId: $u, roleId: $r) { id } }",
      variables: { c: config.companyId, u: config.bobId, r: config.adminRoleId },
    }),
  }).then((r) => r.json());
  if (promoted.errors) throw new Error(JSON.stringify(promoted.errors));
  await bob.waitForSelector('#unread[data-unread="1"]', { timeout: SEEN_WITHIN });
  await bob.click("#mark-all-read");
  await bob.waitForSelector('#unread[data-unread="0"]', { timeout: SEEN_WITHIN });
  report.unreadAfterMarking = Number(await bob.textContent("#unread"));

  // Past the first access tokens' expiry (the server's lifetime is short here), both
  // sessions were refreshed and Bob's socket renewed in place: a new row still reaches
  // him, without a reconnect.
  const expired = signedInAt + config.tokenSeconds * 1500 - Date.now();
  if (expired > 0) await new Promise((resolve) => setTimeout(resolve, expired));
  await alice.fill("#new-row input[name=site]", "Sheffield");
  since = Date.now();
  await alice.click("#new-row button[type=submit]");
  report.afterExpirySeenMs = await seen(bob, cell("Sheffield", "site"), since);
  report.reconnects = Number(await bob.getAttribute("#connection", "data-reconnects"));

  // The server goes away for two seconds while two rows are added: when it is back, Bob's
  // feed has both events once each, and his grid both rows.
  const feedIds = () => bob.locator("#feed li").evaluateAll((items) => items.map((i) => i.dataset.id));
  const before = await feedIds();
  await proxy.outage(2000, async () => {
    await insertDirectly([{ site: "Bristol", day: "2026-03-04", co2e_kg: 3 }]);
    await insertDirectly([{ site: "Derby", day: "2026-03-05", co2e_kg: 4 }]);
    await bob.waitForSelector('#connection:text-is("reconnecting…")', { timeout: SEEN_WITHIN });
  });
  since = Date.now();
  await bob.waitForSelector(cell("Derby", "site"), { timeout: 30_000, state: "attached" });
  await bob.waitForSelector(cell("Bristol", "site"), { timeout: SEEN_WITHIN, state: "attached" });
  report.recoveredMs = Date.now() - since;
  await eventually(async () => (await feedIds()).length >= before.length + 2, SEEN_WITHIN, "the missed events");
  const after = await feedIds();
  report.missedEvents = after.filter((id) => !before.includes(id)).length;
  report.feedDuplicates = after.length - new Set(after).size;
  report.reconnectsAfterOutage = Number(await bob.getAttribute("#connection", "data-reconnects"));

  // A CSV import is one BULK change: Bob's grid refetches and shows its rows.
  const form = new FormData();
  form.append(
    "operations",
    JSON.stringify({
      query: "mutation($t: ID!, $csv: Upload!) { importCsv(tableId: $t, csv: $csv) { inserted } }",
      variables: { t: config.tableId, csv: null },
    }),
  );
  form.append("map", JSON.stringify({ 0: ["variables.csv"] }));
  form.append("0", new Blob(["site,day,co2e_kg\nLeeds,2026-03-06,5\nWhitby,2026-03-07,6\n"], { type: "text/csv" }), "fuel.csv");
  since = Date.now();
  const imported = await fetch(`${config.api}/graphql`, {
    method: "POST",
    headers: { authorization: `Bearer ${await tokenOf(config.alice)}`, "apollo-require-preflight": "true" },
    body: form,
  }).then((r) => r.json());
  if (imported.errors) throw new Error(JSON.stringify(imported.errors));
  report.bulkSeenMs = await seen(bob, cell("Whitby", "site"), since);

  report.feed = await alice.locator("#feed li").allTextContents();
  await alice.screenshot({ path: join(config.screenshots, "dashboard.png") });
} finally {
  await browser?.close();
  dev?.stop();
  proxy.close();
}
console.log(JSON.stringify(report));
