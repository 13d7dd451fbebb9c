// Stock clients as applications set them up, each asking one query over HTTP and holding
// one subscription over its websocket protocol, against a running Guildhall: Apollo
// Client (HttpLink and GraphQLWsLink), urql (fetchExchange and subscriptionExchange with
// graphql-ws), and the legacy subscriptions-transport-ws client. Usage:
// node subscribers.mjs URL TOKEN COMPANY_ID. While the subscriptions wait it creates
// projects over HTTP until each client has heard one; prints each client's query answer
// and first event, as one JSON object.
import { ApolloClient, ApolloLink, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { GraphQLWsLink } from "@apollo/client/link/subscriptions";
import { getMainDefinition } from "@apollo/client/utilities";
import { Client as UrqlClient, fetchExchange, subscriptionExchange } from "@urql/core";
import { createClient as createWsClient } from "graphql-ws";
import { SubscriptionClient } from "subscriptions-transport-ws";
import WebSocket from "ws";

const [url, token, companyId] = process.argv.slice(2);
const socketUrl = url.replace(/^http/, "ws") + "/ws";
const authorization = `Bearer ${token}`;
const ME = "query Me { me { user { id email } } }";
const FEED = "subscription Feed($c: ID!) { activity(companyId: $c) { verb summary } }";

function apollo() {
  const ws = createWsClient({ url: socketUrl, webSocketImpl: WebSocket, connectionParams: { authorization } });
  const http = new HttpLink({ uri: url, headers: { authorization } });
  const isSubscription = ({ query }) => {
    const definition = getMainDefinition(query);
    return definition.kind === "OperationDefinition" && definition.operation === "subscription";
  };
  const client = new ApolloClient({
    link: ApolloLink.split(isSubscription, new GraphQLWsLink(ws), http),
    cache: new InMemoryCache(),
  });
  return {
    query: async () => (await client.query({ query: gql(ME) })).data,
    subscribe: (onEvent) => {
      const subscription = client
        .subscribe({ query: gql(FEED), variables: { c: companyId } })
        .subscribe({ next: (result) => onEvent(result.data) });
      return () => {
        subscription.unsubscribe();
        ws.dispose();
      };
    },
  };
}

function urql() {
  const ws = createWsClient({ url: socketUrl, webSocketImpl: WebSocket, connectionParams: { authorization } });
  const client = new UrqlClient({
    url,
    fetchOptions: { headers: { authorization } },
    exchanges: [
      fetchExchange,
      subscriptionExchange({
        forwardSubscription: (request) => ({
          subscribe: (sink) => ({ unsubscribe: ws.subscribe({ ...request, query: request.query ?? "" }, sink) }),
        }),
      }),
    ],
  });
  return {
    query: async () => (await client.query(ME, {}).toPromise()).data,
    subscribe: (onEvent) => {
      const subscription = client
        .subscription(FEED, { c: companyId })
        .subscribe((result) => onEvent(result.data));
      return () => {
        subscription.unsubscribe();
        ws.dispose();
      };
    },
  };
}

function legacy() {
  const client = new SubscriptionClient(socketUrl, { connectionParams: { authorization } }, WebSocket);
  return {
    query: () =>
      new Promise((resolve, reject) => {
        client.request({ query: ME }).subscribe({ next: (result) => resolve(result.data), error: reject });
      }),
    subscribe: (onEvent) => {
      const subscription = client
        .request({ query: FEED, variables: { c: companyId } })
        .subscribe({ next: (result) => onEvent(result.data) });
      return () => {
        subscription.unsubscribe();
        client.close();
      };
    },
  };
}

async function createProject(n) {
  await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization },
    body: JSON.stringify({
      query: "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }",
      variables: { c: companyId, n: `Client ${n}` },
    }),
  });
}

const clients = { apollo: apollo(), urql: urql(), legacy: legacy() };
const report = {};
const stops = [];
for (const [name, client] of Object.entries(clients)) {
  report[name] = { query: await client.query() };
  stops.push(client.subscribe((event) => (report[name].event ??= event)));
}
const deadline = Date.now() + 15_000;
for (let n = 1; Object.values(report).some((r) => !r.event); n += 1) {
  if (Date.now() > deadline) break;
  await createProject(n);
  await new Promise((resolve) => setTimeout(resolve, 300));
}
stops.forEach((stop) => stop());
console.log(JSON.stringify(report));
process.exit(0);
