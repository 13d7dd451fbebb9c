#!/usr/bin/env node
// A Guildhall integration in plain Node. Its operations live in manifest.json beside it
// (an Apollo persisted-query manifest); once registered as the company's trusted
// documents, they run by hash, so a persisted-only API key can run them and nothing else.
//
//   node sync.mjs register               registers manifest.json for the company
//                                        (GUILDHALL_TOKEN: someone with api_key:manage)
//   node sync.mjs pull TABLE_ID OUT.csv  rows written since the last pull, to OUT.csv
//   node sync.mjs push TABLE_ID IN.csv   inserts IN.csv's rows, or prints each bad line
//
// GUILDHALL_URL (default http://127.0.0.1:8080), GUILDHALL_KEY (the API key for pull and
// push), GUILDHALL_COMPANY_ID (for register), SYNC_STATE (default .sync-state.json here:
// when each table was last pulled up to).
import { readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import { parse } from "csv-parse/sync";
import { stringify } from "csv-stringify/sync";

const here = dirname(fileURLToPath(import.meta.url));
const server = process.env.GUILDHALL_URL ?? "http://127.0.0.1:8080";
const statePath = process.env.SYNC_STATE ?? join(here, ".sync-state.json");
const manifest = JSON.parse(readFileSync(join(here, "manifest.json"), "utf8"));
/** insertRows takes up to 1,000 rows, all or none. */
const BATCH = 1000;

class GraphQLFailure extends Error {
  constructor(errors) {
    super(errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("; "));
    this.errors = errors;
  }
}

async function post(token, body) {
  const response = await fetch(`${server}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const answer = await response.json().catch(() => null);
  if (!answer) throw new Error(`${server} answered HTTP ${response.status} without GraphQL`);
  if (answer.errors?.length) throw new GraphQLFailure(answer.errors);
  return answer.data;
}

/** Runs the manifest's operation `name` by its hash, never sending its text. */
function run(name, variables) {
  const operation = manifest.operations.find((op) => op.name === name);
  const key = process.env.GUILDHALL_KEY;
  if (!key) throw new Error("set GUILDHALL_KEY to the integration's API key");
  return post(key, { documentId: `sha256:${operation.id}`, variables });
}

function need(value, what) {
  if (!value) {
    console.error(`missing ${what}`);
    process.exit(2);
  }
  return value;
}

async function register() {
  const token = need(process.env.GUILDHALL_TOKEN, "GUILDHALL_TOKEN (someone with api_key:manage)");
  const companyId = need(process.env.GUILDHALL_COMPANY_ID, "GUILDHALL_COMPANY_ID");
  const data = await post(token, {
    query:
      "mutation Register($companyId: ID!, $manifest: JSON) { registerPersistedQueries(companyId: $companyId, manifest: $manifest) { registered } }",
    variables: { companyId, manifest },
  });
  const names = manifest.operations.map((operation) => operation.name).join(", ");
  console.log(`registered ${data.registerPersistedQueries.registered} documents: ${names}`);
}

function readState() {
  try {
    return JSON.parse(readFileSync(statePath, "utf8"));
  } catch {
    return {};
  }
}

async function pull(tableId, out) {
  const state = readState();
  const since = state[tableId] ?? null;
  const { dataTable: table } = await run("TableFields", { table: tableId });
  const keys = table.fields.map((field) => field.key);
  const lines = [["id", ...keys, "updated_at"]];
  let newest = since;
  let after = null;
  for (;;) {
    const page = (await run("ChangedRows", { table: tableId, since, after })).dataTable.rows;
    for (const row of page.nodes) {
      lines.push([row.id, ...keys.map((key) => cell(row.values[key])), row.updatedAt]);
      if (!newest || row.updatedAt > newest) newest = row.updatedAt;
    }
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  writeFileSync(out, stringify(lines));
  writeFileSync(statePath, JSON.stringify({ ...state, [tableId]: newest }, null, 2));
  console.log(`${lines.length - 1} rows of ${table.name} written since ${since ?? "the start"} to ${out}`);
}

function cell(value) {
  if (value === null || value === undefined) return "";
  if (Array.isArray(value)) return value.join("|");
  return String(value);
}

async function push(tableId, file) {
  const { dataTable: table } = await run("TableFields", { table: tableId });
  const types = new Map(table.fields.map((field) => [field.key, field.type]));
  const records = parse(readFileSync(file), { columns: true, skip_empty_lines: true, bom: true });
  const unknown = Object.keys(records[0] ?? {}).filter((column) => !types.has(column));
  if (unknown.length > 0) {
    console.error(`columns that are not fields of ${table.name}: ${unknown.join(", ")}`);
    process.exit(1);
  }
  let stored = 0;
  for (let start = 0; start < records.length; start += BATCH) {
    const batch = records.slice(start, start + BATCH);
    const rows = batch.map((record) => typed(record, types));
    try {
      await run("InsertRows", { table: tableId, rows });
      stored += rows.length;
    } catch (error) {
      if (!(error instanceof GraphQLFailure)) throw error;
      printLineErrors(error, start);
      console.error(
        `${stored} rows stored; nothing from line ${start + 2} on (each batch of ${BATCH} is all or none)`,
      );
      process.exit(1);
    }
  }
  console.log(`${stored} rows stored in ${table.name}`);
}

/** A CSV line's values as the field types take them; empty cells are left out. */
function typed(record, types) {
  const values = {};
  for (const [key, text] of Object.entries(record)) {
    if (text === "") continue;
    switch (types.get(key)) {
      case "INTEGER":
      case "DECIMAL":
        values[key] = Number.isNaN(Number(text)) ? text : Number(text);
        break;
      case "BOOLEAN":
        values[key] = ["true", "yes", "1"].includes(text.toLowerCase());
        break;
      case "MULTI_SELECT":
        values[key] = text.split("|");
        break;
      default:
        values[key] = text;
    }
  }
  return values;
}

/** Each problem at `rows.N.key` as its CSV line (the header is line 1). */
function printLineErrors(error, start) {
  for (const problem of error.errors) {
    const fields = problem.extensions?.fields ?? [];
    if (fields.length === 0) console.error(`${problem.extensions?.code ?? "ERROR"}: ${problem.message}`);
    for (const field of fields) {
      const [list, index, ...rest] = field.path;
      if (list === "rows" && Number.isInteger(index)) {
        console.error(`line ${start + index + 2}: ${rest.join(".") || "row"}: ${field.message}`);
      } else {
        console.error(`${field.path.join(".")}: ${field.message}`);
      }
    }
  }
}

const [command, ...args] = process.argv.slice(2);
try {
  if (command === "register") await register();
  else if (command === "pull") await pull(need(args[0], "TABLE_ID"), need(args[1], "OUT.csv"));
  else if (command === "push") await push(need(args[0], "TABLE_ID"), need(args[1], "IN.csv"));
  else {
    console.error("usage: node sync.mjs register | pull TABLE_ID OUT.csv | push TABLE_ID IN.csv");
    process.exit(2);
  }
} catch (error) {
  console.error(error.message);
  process.exit(1);
}
