// The dashboard's wiring: sign in, pick a company and one of its tables, then the live
// feed, the bell, the grid and the chart, all on one websocket.
import "./style.css";

import { Api } from "./api";
import { showNotifications } from "./bell";
import { RowChart } from "./chart";
import { showActivity } from "./feed";
import { Grid } from "./grid";
import { Live } from "./live";
import { describe } from "./messages";
import { Session } from "./session";

const COMPANIES = "query Companies { me { memberships { company { id name } } } }";
const TABLES = `query Tables($id: ID!) { company(id: $id) { projects(first: 50) { nodes { name tables(first: 50) { nodes { id name } } } } } }`;

function element<T extends HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`#${id} is missing from index.html`);
  return found as T;
}

const session = new Session();
const api = new Api(() => session.accessToken);
session.use(api);
const live = new Live(
  () => session.accessToken,
  () => session.renew(),
);
const chart = new RowChart(element("chart"), element("chart-note"));
const problem = element("problem");
const companyPicker = element<HTMLSelectElement>("company");
const tablePicker = element<HTMLSelectElement>("table");

let grid: Grid | null = null;
let stopFeed: (() => void) | null = null;
let stopBell: (() => void) | null = null;

live.onStatus = (status) => {
  element("connection").textContent =
    status === "connected" ? "live" : status === "reconnecting" ? "reconnecting…" : "offline";
};
let reconnects = 0;
live.onReconnect = () => {
  reconnects += 1;
  element("connection").dataset.reconnects = String(reconnects);
  grid?.reload().catch(show);
};
session.onChange((token) => {
  if (token) live.renew(token);
  else signedOut();
});

function show(error: unknown): void {
  problem.textContent = describe(error);
}

async function signedIn(): Promise<void> {
  element("sign-in").hidden = true;
  element("dashboard").hidden = false;
  element("who").textContent = session.user?.name ?? "";
  const data = await api.query<{ me: { memberships: { company: { id: string; name: string } }[] } }>(
    COMPANIES,
  );
  companyPicker.replaceChildren(
    ...data.me.memberships.map(({ company }) => new Option(company.name, company.id)),
  );
  stopBell = await showNotifications(api, live, {
    count: element("unread"),
    list: element("notifications"),
    markAll: element("mark-all-read"),
    problem,
  });
  await pickCompany();
}

async function pickCompany(): Promise<void> {
  stopFeed?.();
  grid?.close();
  grid = null;
  const companyId = companyPicker.value;
  if (!companyId) return;
  stopFeed = await showActivity(api, live, companyId, element("feed"));
  const data = await api.query<{
    company: { projects: { nodes: { name: string; tables: { nodes: { id: string; name: string }[] } }[] } };
  }>(TABLES, { id: companyId });
  const options = data.company.projects.nodes.flatMap((project) =>
    project.tables.nodes.map((table) => new Option(`${project.name} / ${table.name}`, table.id)),
  );
  tablePicker.replaceChildren(...options);
  await pickTable();
}

async function pickTable(): Promise<void> {
  grid?.close();
  grid = null;
  if (!tablePicker.value) {
    element("grid-title").textContent = "No tables yet";
    element("grid").replaceChildren();
    return;
  }
  grid = new Grid(
    api,
    live,
    tablePicker.value,
    {
      title: element("grid-title"),
      table: element("grid"),
      form: element("new-row"),
      problem,
    },
    (fields, rows) => chart.show(fields, rows),
  );
  await grid.start();
}

function signedOut(): void {
  stopFeed?.();
  stopBell?.();
  grid?.close();
  grid = null;
  live.close();
  element("dashboard").hidden = true;
  element("sign-in").hidden = false;
}

element<HTMLFormElement>("sign-in").onsubmit = async (event) => {
  event.preventDefault();
  const form = new FormData(event.target as HTMLFormElement);
  try {
    await session.signIn(String(form.get("email")), String(form.get("password")));
    problem.textContent = "";
    await signedIn();
  } catch (error) {
    show(error);
  }
};
element("sign-out").onclick = () => session.signOut().catch(show);
companyPicker.onchange = () => pickCompany().catch(show);
tablePicker.onchange = () => pickTable().catch(show);

session
  .resume()
  .then((resumed) => (resumed ? signedIn() : undefined))
  .catch(show);
