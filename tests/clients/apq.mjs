// Apollo Client with its PersistedQueryLink, as an application would set it up, against a
// running Guildhall. Usage: node apq.mjs URL TOKEN. Runs one query on a fresh client
// twice, then once more on a second client sending hashed queries by GET, and prints
// what each HTTP request carried and what each run answered, as one JSON object.
import { ApolloClient, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { PersistedQueryLink } from "@apollo/client/link/persisted-queries";
import { createHash } from "node:crypto";

const [url, token] = process.argv.slice(2);
const sent = [];

async function recordingFetch(uri, init) {
  const address = new URL(uri);
  const body = init.body ? JSON.parse(init.body) : {};
  const carried = (name) => address.searchParams.has(name) || body[name] !== undefined;
  sent.push({ method: init.method ?? "GET", query: carried("query"), hash: carried("extensions") });
  const response = await fetch(uri, init);
  sent[sent.length - 1].status = response.status;
  return response;
}

function client(useGETForHashedQueries) {
  const sha256 = (text) => createHash("sha256").update(text).digest("hex");
  const http = new HttpLink({ uri: url, fetch: recordingFetch, headers: { authorization: `Bearer ${token}` } });
  return new ApolloClient({
    link: new PersistedQueryLink({ sha256, useGETForHashedQueries }).concat(http),
    cache: new InMemoryCache(),
  });
}

const ME = gql`
  query Me {
    me {
      user {
        email
      }
    }
  }
`;
const answers = [];
const posting = client(false);
for (let run = 0; run < 2; run += 1) {
  const { data, error } = await posting.query({ query: ME, fetchPolicy: "network-only" });
  answers.push({ email: data?.me?.user?.email ?? null, error: error?.message ?? null });
}
const getting = client(true);
const { data, error } = await getting.query({ query: ME, fetchPolicy: "network-only" });
answers.push({ email: data?.me?.user?.email ?? null, error: error?.message ?? null });
console.log(JSON.stringify({ answers, sent }));
