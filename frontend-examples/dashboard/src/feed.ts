// A company's live activity feed: the newest events, then every new one as it happens,
// resumed after the last cursor seen when the connection comes back (never a gap, never
// the same event twice).
import type { Api } from "./api";
import type { Live } from "./live";
import { describe } from "./messages";

const EVENT = "id cursor verb summary createdAt actor { name }";
const RECENT = `query Recent($id: ID!) { company(id: $id) { activity(first: 20) { edges { node { ${EVENT} } } } } }`;
const LIVE = `subscription Activity($companyId: ID!, $after: String) { activity(companyId: $companyId, after: $after) { ${EVENT} } }`;
const SHOWN = 50;

interface ActivityEvent {
  id: string;
  cursor: string;
  verb: string;
  summary: string;
  createdAt: string;
  actor: { name: string } | null;
}

/** Fills `list` with `companyId`'s activity and keeps it live; returns what stops it. */
export async function showActivity(
  api: Api,
  live: Live,
  companyId: string,
  list: HTMLOListElement,
): Promise<() => void> {
  const seen = new Set<string>();
  list.replaceChildren();
  const add = (event: ActivityEvent, newest: boolean) => {
    if (seen.has(event.id)) return;
    seen.add(event.id);
    const item = document.createElement("li");
    item.dataset.id = event.id;
    item.dataset.verb = event.verb;
    const when = new Date(event.createdAt).toLocaleTimeString();
    item.textContent = `${when} · ${event.actor?.name ?? "Guildhall"}: ${event.summary}`;
    if (newest) list.prepend(item);
    else list.append(item);
    while (list.children.length > SHOWN) list.lastElementChild?.remove();
  };
  const data = await api.query<{ company: { activity: { edges: { node: ActivityEvent }[] } } }>(
    RECENT,
    { id: companyId },
  );
  const recent = data.company.activity.edges.map((edge) => edge.node);
  recent.forEach((event) => add(event, false));
  return live.subscribe<{ activity: ActivityEvent }>(
    {
      query: LIVE,
      variables: (after) => ({ companyId, after }),
      cursorOf: (data) => data.activity.cursor,
      onData: (data) => add(data.activity, true),
      onError: (error) => {
        const item = document.createElement("li");
        item.className = "error";
        item.textContent = describe(error);
        list.prepend(item);
      },
    },
    recent[0]?.cursor ?? null,
  );
}
