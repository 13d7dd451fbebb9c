// The playground in a real browser with no network beyond 127.0.0.1. Usage:
// node playground.mjs URL TOKEN COMPANY_ID. Opens URL/graphql, runs `{ __typename }`,
// then, with the token in GraphiQL's headers editor, an activity subscription while it
// creates projects over HTTP until an event shows. Prints the two answers GraphiQL shows,
// the requests that left 127.0.0.1 and the page's script errors, as one JSON object.
import { eventually, localBrowser } from "./browser.mjs";

const [url, token, companyId] = process.argv.slice(2);
const { browser, newContext, outside, pageErrors } = await localBrowser();
const report = { outside, pageErrors };
try {
  const page = await (await newContext()).newPage();
  await page.goto(`${url}/graphql`);
  await page.waitForSelector(".graphiql-query-editor .CodeMirror", { timeout: 20_000 });

  const setEditor = (selector, text) =>
    page.evaluate(([s, t]) => document.querySelector(s).CodeMirror.setValue(t), [selector, text]);
  const shown = () =>
    page.evaluate(() => document.querySelector(".result-window .CodeMirror").CodeMirror.getValue());
  const run = async (query) => {
    await setEditor(".graphiql-query-editor .CodeMirror", query);
    // GraphiQL parses the edited document a moment later; a person types slower.
    await page.waitForTimeout(1000);
    await page.click(".graphiql-execute-button");
  };

  await run("{ __typename }");
  report.typename = JSON.parse(await eventually(shown, 10_000, "the query's answer"));

  await page.evaluate((headers) => {
    const editors = document.querySelectorAll(".graphiql-editor-tool .graphiql-editor .CodeMirror");
    editors[editors.length - 1].CodeMirror.setValue(headers);
  }, JSON.stringify({ Authorization: `Bearer ${token}` }));
  await run(`subscription { activity(companyId: "${companyId}") { verb summary } }`);
  let polls = 0;
  const event = await eventually(
    async () => {
      const text = await shown();
      if (text.includes('"activity"') || text.includes('"errors"')) return text;
      polls += 1;
      if (polls % 5 !== 1) return null;
      await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: "mutation($c: ID!, $n: String!) { createProject(companyId: $c, name: $n) { id } }",
          variables: { c: companyId, n: `Browser ${polls}` },
        }),
      });
      return null;
    },
    15_000,
    "the subscription's event",
  );
  report.event = JSON.parse(event);
} finally {
  await browser.close();
}
console.log(JSON.stringify(report));
