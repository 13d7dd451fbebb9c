// The notifications bell: the unread count, the latest notifications, new ones live, and
// mark read / mark all read.
import type { Api } from "./api";
import type { Live } from "./live";
import { describe } from "./messages";

const NOTIFICATION = "id cursor kind title body read createdAt";
const LATEST = `query Notifications { me { unreadNotificationCount notifications(first: 10) { edges { node { ${NOTIFICATION} } } } } }`;
const LIVE = `subscription Notifications($after: String) { notificationAdded(after: $after) { ${NOTIFICATION} } }`;
const MARK_READ = "mutation MarkRead($id: ID!) { markNotificationRead(id: $id) { id read } }";
const MARK_ALL_READ = "mutation MarkAllRead { markAllNotificationsRead }";

interface Notification {
  id: string;
  cursor: string;
  kind: string;
  title: string;
  body: string;
  read: boolean;
}

/** The bell's parts on the page. */
export interface BellView {
  count: HTMLElement;
  list: HTMLUListElement;
  markAll: HTMLButtonElement;
  problem: HTMLElement;
}

/** Shows the signed-in person's notifications and keeps them live; returns what stops it. */
export async function showNotifications(api: Api, live: Live, view: BellView): Promise<() => void> {
  // Newest first: the latest from the query, then each live one in front.
  const items = new Map<string, Notification>();
  let order: string[] = [];
  let unread = 0;
  const render = () => {
    view.count.textContent = String(unread);
    view.count.dataset.unread = String(unread);
    const newest = order.slice(0, 10).flatMap((id) => items.get(id) ?? []);
    view.list.replaceChildren(
      ...newest.map((notification) => {
        const item = document.createElement("li");
        item.className = notification.read ? "read" : "unread";
        item.textContent = `${notification.title} — ${notification.body}`;
        if (!notification.read) {
          const button = document.createElement("button");
          button.textContent = "Mark read";
          button.onclick = () => markRead(notification);
          item.append(" ", button);
        }
        return item;
      }),
    );
  };
  const failed = (error: unknown) => (view.problem.textContent = describe(error));
  const markRead = async (notification: Notification) => {
    try {
      await api.mutate(MARK_READ, { id: notification.id });
      if (!notification.read) unread = Math.max(0, unread - 1);
      notification.read = true;
      render();
    } catch (error) {
      failed(error);
    }
  };
  view.markAll.onclick = async () => {
    try {
      await api.mutate(MARK_ALL_READ);
      items.forEach((notification) => (notification.read = true));
      unread = 0;
      render();
    } catch (error) {
      failed(error);
    }
  };

  const data = await api.query<{
    me: { unreadNotificationCount: number; notifications: { edges: { node: Notification }[] } };
  }>(LATEST);
  unread = data.me.unreadNotificationCount;
  const latest = data.me.notifications.edges.map((edge) => edge.node);
  latest.forEach((notification) => items.set(notification.id, notification));
  order = latest.map((notification) => notification.id);
  render();
  return live.subscribe<{ notificationAdded: Notification }>(
    {
      query: LIVE,
      variables: (after) => ({ after }),
      cursorOf: (data) => data.notificationAdded.cursor,
      onData: ({ notificationAdded: notification }) => {
        if (items.has(notification.id)) return;
        items.set(notification.id, notification);
        order.unshift(notification.id);
        if (!notification.read) unread += 1;
        render();
      },
      onError: failed,
    },
    latest[0]?.cursor ?? null,
  );
}
